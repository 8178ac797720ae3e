//! The closed sets of values that travel as strings (roles, approval statuses): one schema each,
//! built from the domain's own list, and every property that carries one points at it.

use accounts::ApprovalStatus;
use events::Role;
use utoipa::openapi::schema::{Components, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};

/// The component name of the role enum.
pub const ROLE: &str = "Role";
/// The component name of the approval status enum.
pub const APPROVAL_STATUS: &str = "ApprovalStatus";

/// Properties that hold a role, in any schema.
const ROLE_PROPERTIES: [&str; 2] = ["role", "with_role"];
/// `(schema, property)` pairs that hold an approval status.
const STATUS_PROPERTIES: [(&str, &str); 1] = [("ApprovalBody", "status")];

fn string_enum(description: &str, values: impl IntoIterator<Item = String>) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values))
            .description(Some(description))
            .build(),
    ))
}

/// Adds the enums to `components` and points the properties that carry them at them.
pub fn add(components: &mut Components) {
    components.schemas.insert(
        ROLE.into(),
        string_enum("A user's role.", Role::ALL.iter().map(ToString::to_string)),
    );
    let statuses = [ApprovalStatus::Approved, ApprovalStatus::Revoked];
    components.schemas.insert(
        APPROVAL_STATUS.into(),
        string_enum(
            "Whether a clinician may message a patient.",
            statuses.iter().map(|s| s.as_str().to_owned()),
        ),
    );
    for (name, schema) in components.schemas.iter_mut() {
        let RefOr::T(Schema::Object(object)) = schema else {
            continue;
        };
        for (property, value) in object.properties.iter_mut() {
            let is_status = STATUS_PROPERTIES.contains(&(name.as_str(), property.as_str()));
            let target = if ROLE_PROPERTIES.contains(&property.as_str()) {
                ROLE
            } else if is_status {
                APPROVAL_STATUS
            } else {
                continue;
            };
            *value = RefOr::Ref(Ref::from_schema_name(target));
        }
    }
}
