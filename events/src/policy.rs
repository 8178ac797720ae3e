//! Who may message whom (`API.md`, "Who may message whom").

use crate::directory::{Directory, Role, UserInfo};
use crate::error::MessageError;
use crate::limits::MAX_SUBJECT_CHARS;

/// Checks that `sender` may write to `recipient`. `is_reply` is true when the message answers a
/// message between the same two people (a patient may write to a clinician only then).
/// Asks the directory for the clinician approval only when the roles need it, and whether one
/// blocks the other only when no approval links them (blocks never stand across one).
pub async fn check_policy(
    directory: &dyn Directory,
    sender: &UserInfo,
    recipient: &UserInfo,
    is_reply: bool,
) -> Result<(), MessageError> {
    use Role::*;
    match (sender.role, recipient.role) {
        (Patient, Patient) | (Clinician, Clinician) => {
            not_blocked(directory, sender, recipient).await
        }
        // A patient answers their own clinician whatever happened (no block across an
        // approval); anyone else's clinician unless one of them blocked the other.
        (Patient, Clinician) if is_reply => {
            if directory
                .is_assigned(&recipient.username, &sender.username)
                .await?
            {
                Ok(())
            } else {
                not_blocked(directory, sender, recipient).await
            }
        }
        (Patient, Clinician) => Err(MessageError::PatientMayOnlyReplyToClinician),
        // The approval is required, and no block stands across an approval.
        (Clinician, Patient) => {
            if directory
                .is_assigned(&sender.username, &recipient.username)
                .await?
            {
                Ok(())
            } else {
                Err(MessageError::PatientNotAssigned {
                    patient: recipient.username.clone(),
                })
            }
        }
        (sender_role, recipient_role) => Err(MessageError::RoleForbidden {
            sender: sender_role,
            recipient: recipient_role,
        }),
    }
}

/// Refuses, with the ordinary policy answer, when either of the two blocks the other.
async fn not_blocked(
    directory: &dyn Directory,
    sender: &UserInfo,
    recipient: &UserInfo,
) -> Result<(), MessageError> {
    if directory
        .is_blocked_between(&sender.username, &recipient.username)
        .await?
    {
        Err(MessageError::Blocked)
    } else {
        Ok(())
    }
}

/// The subject of a reply when the caller gives none: `Re: ` + the parent's, never `Re: Re: `.
pub fn reply_subject(parent_subject: Option<&str>) -> Option<String> {
    let parent = parent_subject?.trim();
    if parent.is_empty() {
        return None;
    }
    let subject = if parent
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("re: "))
    {
        parent.to_owned()
    } else {
        format!("Re: {parent}")
    };
    Some(subject.chars().take(MAX_SUBJECT_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::reply_subject;

    #[test]
    fn reply_subject_prefixes_once() {
        assert_eq!(reply_subject(Some("Budget")).as_deref(), Some("Re: Budget"));
        assert_eq!(
            reply_subject(Some("Re: Budget")).as_deref(),
            Some("Re: Budget")
        );
        assert_eq!(
            reply_subject(Some("RE: Budget")).as_deref(),
            Some("RE: Budget")
        );
        assert_eq!(reply_subject(None), None);
        assert_eq!(reply_subject(Some("  ")), None);
        let long = "x".repeat(255);
        assert_eq!(
            reply_subject(Some(&long)).map(|s| s.chars().count()),
            Some(255)
        );
    }
}
