//! How the projector runs, from the environment (documented in `docs/projector.md`).

use std::time::Duration;

/// Tuning of the projector runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectorSettings {
    /// `PROJECTOR_BATCH_SIZE` (default 500): events applied per transaction.
    pub batch_size: u32,
    /// `PROJECTOR_REPLAY_BATCH_SIZE` (default 5000, at most 50,000): events per transaction of
    /// `projector rebuild` and `verify`.
    pub replay_batch_size: u32,
    /// `PROJECTOR_SETTLE_MS` (default 20, 0 to turn off): how long the `messages` and
    /// `audit_log` projections wait after a wake-up before applying, so that a busy log reaches
    /// them in fewer, larger batches. The mailbox (inbox, sent, search, badge) never waits.
    pub settle: Duration,
    /// `PROJECTOR_POLL_MS` (default 500): the fallback poll when no wake-up arrives.
    pub poll_interval: Duration,
    /// `PROJECTOR_STANDBY_MS` (default 1000): how often a standby tries to become leader.
    pub standby_retry: Duration,
    /// Longest pause between reconnect attempts after a lost connection (5 s).
    pub max_backoff: Duration,
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            replay_batch_size: 5000,
            settle: Duration::from_millis(20),
            poll_interval: Duration::from_millis(500),
            standby_retry: Duration::from_millis(1000),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// A setting has a value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("setting {name}: `{value}` is not a positive whole number")]
pub struct BadSetting {
    pub name: &'static str,
    pub value: String,
}

impl ProjectorSettings {
    /// How long `projection` waits after a wake-up before applying (see [`Self::settle`]).
    pub fn settle(&self, projection: read_side::Projection) -> Duration {
        match projection {
            // What the caller waits on after their own command: applied at once.
            read_side::Projection::Mailbox | read_side::Projection::Composer => Duration::ZERO,
            read_side::Projection::Messages | read_side::Projection::AuditLog => self.settle,
        }
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, BadSetting> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BadSetting> {
        let number = |name: &'static str, default: u64| -> Result<u64, BadSetting> {
            match lookup(name) {
                None => Ok(default),
                Some(value) => match value.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(BadSetting { name, value }),
                },
            }
        };
        let defaults = Self::default();
        let batch_size = number("PROJECTOR_BATCH_SIZE", 500)?;
        Ok(Self {
            batch_size: u32::try_from(batch_size).unwrap_or(u32::MAX).min(10_000),
            replay_batch_size: u32::try_from(number("PROJECTOR_REPLAY_BATCH_SIZE", 5000)?)
                .unwrap_or(u32::MAX)
                .min(50_000),
            settle: Duration::from_millis(match lookup("PROJECTOR_SETTLE_MS") {
                Some(v) if v.trim() == "0" => 0,
                _ => number("PROJECTOR_SETTLE_MS", 20)?,
            }),
            poll_interval: Duration::from_millis(number("PROJECTOR_POLL_MS", 500)?),
            standby_retry: Duration::from_millis(number("PROJECTOR_STANDBY_MS", 1000)?),
            max_backoff: defaults.max_backoff,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_bad_values_are_named() {
        assert_eq!(
            ProjectorSettings::from_lookup(|_| None).ok(),
            Some(ProjectorSettings::default())
        );
        let custom = ProjectorSettings::from_lookup(|k| {
            (k == "PROJECTOR_BATCH_SIZE").then(|| "50".to_owned())
        });
        assert_eq!(custom.map(|s| s.batch_size).ok(), Some(50));
        let off = ProjectorSettings::from_lookup(|k| {
            (k == "PROJECTOR_SETTLE_MS").then(|| "0".to_owned())
        });
        assert_eq!(off.map(|s| s.settle).ok(), Some(Duration::ZERO));
        let defaults = ProjectorSettings::default();
        assert_eq!(
            defaults.settle(read_side::Projection::Mailbox),
            Duration::ZERO,
            "the mailbox never waits"
        );
        assert_eq!(
            defaults.settle(read_side::Projection::AuditLog),
            Duration::from_millis(20)
        );
        let bad =
            ProjectorSettings::from_lookup(|k| (k == "PROJECTOR_POLL_MS").then(|| "0".into()));
        assert!(matches!(
            bad,
            Err(BadSetting {
                name: "PROJECTOR_POLL_MS",
                ..
            })
        ));
    }
}
