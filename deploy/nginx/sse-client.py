#!/usr/bin/env python3
"""A Server-Sent Events client for deploy/nginx-test.sh, behaving like the browser's EventSource.

    deploy/nginx/sse-client.py URL COOKIE LOG

Opens URL with the session cookie, writes one JSON line per connection and per event to LOG
(with the arrival time), and when the stream ends or breaks reconnects after a short pause with
`Last-Event-ID` = the last id received, as EventSource does (the pause is 0.3 s here instead of
the server's `retry: 2000`, to keep the test short). Runs until killed.
"""

import http.client
import json
import sys
import time
import urllib.parse


def main():
    url, cookie, log_path = sys.argv[1:4]
    parts = urllib.parse.urlsplit(url)
    log = open(log_path, "a", buffering=1)

    def write(record):
        record["t"] = time.time()
        log.write(json.dumps(record) + "\n")

    last_id = None
    connection_no = 0
    while True:
        connection_no += 1
        headers = {"Cookie": cookie, "Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            conn.request("GET", parts.path, headers=headers)
            response = conn.getresponse()
            write({"connection": connection_no, "status": response.status,
                   "content_type": response.getheader("Content-Type"),
                   "last_event_id": last_id})
            if response.status != 200:
                response.read()
                conn.close()
                time.sleep(0.3)
                continue
            event, data, event_id = "message", [], None
            while True:
                line = response.readline()
                if not line:
                    break
                line = line.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if event_id is not None:
                        last_id = event_id
                    if data:
                        write({"connection": connection_no, "event": event, "id": event_id,
                               "data": "\n".join(data)})
                    event, data, event_id = "message", [], None
                elif line.startswith(":"):
                    continue
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "event":
                        event = value
                    elif field == "data":
                        data.append(value)
                    elif field == "id":
                        event_id = value
            write({"connection": connection_no, "end": "eof"})
            conn.close()
        except (OSError, http.client.HTTPException) as error:
            write({"connection": connection_no, "end": repr(error)})
        time.sleep(0.3)


if __name__ == "__main__":
    main()
