-- People and sessions. These are plain tables, not event-sourced: they are configuration of who
-- may log in and who is assigned to whom, which the messaging policy reads through a directory.
CREATE TABLE users (
    username      text        PRIMARY KEY CHECK (username ~ '^[a-z0-9_.-]{1,64}$'),
    display_name  text        NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 128),
    role          text        NOT NULL CHECK (role IN ('patient', 'clinician', 'admin', 'auditor')),
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A clinician may message a patient only while an approval is `approved`.
CREATE TABLE patient_approvals (
    clinician  text        NOT NULL REFERENCES users (username),
    patient    text        NOT NULL REFERENCES users (username),
    status     text        NOT NULL CHECK (status IN ('approved', 'revoked')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (clinician, patient)
);
CREATE INDEX patient_approvals_patient_idx ON patient_approvals (patient);

-- Server-side sessions. The cookie carries a random token; only its SHA-256 is stored, so a
-- leaked table does not yield usable sessions.
CREATE TABLE sessions (
    token_hash bytea       PRIMARY KEY,
    username   text        NOT NULL REFERENCES users (username),
    csrf_token text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_username_idx ON sessions (username);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
