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
    /// One of the two blocks the other: the same answer as any refusal (the blocked user
    /// learns nothing more).
    #[error("{POLICY_REFUSAL}")]
    Blocked,
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
    #[error("a template title must be one line of 1 to 100 characters with a visible one")]
    InvalidTitle,
    #[error("template {0} does not exist")]
    UnknownTemplate(Uuid),
    #[error("at most {0} templates per clinician; delete one first")]
    TooManyTemplates(usize),
    #[error("only clinicians keep templates and broadcast")]
    ClinicianOnly,
    #[error("send_at must be at least 1 minute and at most 365 days ahead")]
    SendAtOutOfRange,
    #[error("no such scheduled message")]
    UnknownScheduled,
    #[error("scheduled message is {0}, not pending")]
    NotPending(&'static str),
    #[error("a broadcast goes to at most {max} patients; this clinician has {patients}")]
    TooManyRecipients { max: usize, patients: usize },
    #[error("broadcast {0} already exists")]
    AlreadyBroadcast(Uuid),
    #[error("you cannot block yourself")]
    SelfBlock,
    #[error("only patients and clinicians block users")]
    CannotBlock,
    #[error("a patient and their clinician cannot block each other; ask an administrator to end the care relationship")]
    CareTeamBlock,
    #[error("the message is already erased")]
    AlreadyErased,
    #[error("the message is under a legal hold; release the hold first")]
    UnderHold,
    #[error("a reason is 1 to 500 characters with a visible one, on one line")]
    InvalidReason,
    #[error("{0}")]
    Directory(#[from] crate::directory::DirectoryError),
}

impl MessageError {
    /// The API error row this error answers with.
    pub fn kind(&self) -> ErrorKind {
        use MessageError::*;
        match self {
            InvalidContent
            | SubjectTooLong
            | InvalidUsername(_)
            | SelfMessage
            | InvalidTitle
            | SendAtOutOfRange
            | TooManyRecipients { .. }
            | SelfBlock
            | InvalidReason => ErrorKind::InvalidInput,
            UnknownUser(_) | UnknownMessage(_) | UnknownTemplate(_) | UnknownScheduled => {
                ErrorKind::NotFound
            }
            RoleForbidden { .. }
            | PatientMayOnlyReplyToClinician
            | PatientNotAssigned { .. }
            | Blocked
            | NotAClinician
            | NotAParticipant
            | NotTheRecipient
            | NotAnAdmin
            | ClinicianOnly
            | CannotBlock
            | CareTeamBlock => ErrorKind::Forbidden,
            AlreadySent(_) | NotDeleted | TooManyTemplates(_) | NotPending(_)
            | AlreadyBroadcast(_) | AlreadyErased | UnderHold => ErrorKind::Conflict,
            Directory(_) => ErrorKind::Internal,
        }
    }
}
