//! Who may message whom (`API.md`, "Who may message whom").

use crate::directory::{Directory, Role, UserInfo};
use crate::error::MessageError;
use crate::limits::MAX_SUBJECT_CHARS;

/// Checks that `sender` may write to `recipient`. `is_reply` is true when the message answers a
/// message between the same two people (a patient may write to a clinician only then).
/// Asks the directory for the clinician approval only when the roles need it.
pub async fn check_policy(
    directory: &dyn Directory,
    sender: &UserInfo,
    recipient: &UserInfo,
    is_reply: bool,
) -> Result<(), MessageError> {
    use Role::*;
    match (sender.role, recipient.role) {
        (Patient, Patient) | (Clinician, Clinician) => Ok(()),
        (Patient, Clinician) if is_reply => Ok(()),
        (Patient, Clinician) => Err(MessageError::PatientMayOnlyReplyToClinician),
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
