//! The domain's typed errors, each mapping to one of the API's error codes.

use uuid::Uuid;

use crate::directory::Role;

/// Which row of the API's error table an error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400 `invalid_input`
    InvalidInput,
    /// 404 `not_found`
    NotFound,
    /// 403 `forbidden`
    Forbidden,
    /// 409 `conflict`
    Conflict,
    /// 500 `internal`
    Internal,
}

/// The one answer to "may I write to this user?" when the policy says no.
pub const POLICY_REFUSAL: &str = "you may not send a message to this user";

/// Why a command was refused.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("content must be 1 to 10000 characters with a visible one, without control characters other than line breaks and tabs, nor bidi overrides")]
    InvalidContent,
    #[error("subject must be one line of at most 255 characters, without control or bidi-override characters")]
    SubjectTooLong,
    #[error("`{0}` is not a valid username (1 to 64 characters of a-z, 0-9, _ . -)")]
    InvalidUsername(String),
    #[error("you cannot send a message to yourself")]
    SelfMessage,
    #[error("user `{0}` does not exist")]
    UnknownUser(String),
    #[error("message {0} does not exist")]
    UnknownMessage(Uuid),
    // The three policy refusals read the same to the caller: naming the recipient's role or
    // assignment would let anyone probe who is a patient, a clinician or an administrator.
    #[error("{POLICY_REFUSAL}")]
    RoleForbidden { sender: Role, recipient: Role },
    #[error("{POLICY_REFUSAL}")]
    PatientMayOnlyReplyToClinician,
    #[error("{POLICY_REFUSAL}")]
    PatientNotAssigned { patient: String },
    #[error("only clinicians may use the clinician channel")]
    NotAClinician,
    #[error("only the participants of a message may do this")]
    NotAParticipant,
    #[error("only the recipient may mark a message as read")]
    NotTheRecipient,
    #[error("only an administrator may restore messages")]
    NotAnAdmin,
    #[error("message {0} already exists")]
    AlreadySent(Uuid),
    #[error("message is not deleted by anyone")]
    NotDeleted,
    #[error("{0}")]
    Directory(#[from] crate::directory::DirectoryError),
}

impl MessageError {
    /// The API error row this error answers with.
    pub fn kind(&self) -> ErrorKind {
        use MessageError::*;
        match self {
            InvalidContent | SubjectTooLong | InvalidUsername(_) | SelfMessage => {
                ErrorKind::InvalidInput
            }
            UnknownUser(_) | UnknownMessage(_) => ErrorKind::NotFound,
            RoleForbidden { .. }
            | PatientMayOnlyReplyToClinician
            | PatientNotAssigned { .. }
            | NotAClinician
            | NotAParticipant
            | NotTheRecipient
            | NotAnAdmin => ErrorKind::Forbidden,
            AlreadySent(_) | NotDeleted => ErrorKind::Conflict,
            Directory(_) => ErrorKind::Internal,
        }
    }
}
