//! `$rename`: parsed into a leaf at its target that knows its source; applied by moving the
//! source's value to the target, refusing a path through an array on either side.

use bson::{Bson, Document};

use super::operators::{check_storable, Applying, Kind};
use super::path::{self, type_name, UpdatePath};
use super::UpdateError;

/// A `$rename`'s source and target: different, neither below the other, neither dynamic.
pub(crate) fn parse_rename(
    field: &str,
    value: &Bson,
) -> Result<(UpdatePath, UpdatePath), UpdateError> {
    let from = UpdatePath::parse(field)?;
    let Bson::String(to) = value else {
        return Err(UpdateError::new(
            field,
            "The 'to' field for $rename must be a string",
        ));
    };
    let to = UpdatePath::parse(to)?;
    if to.text.contains('\0') {
        return Err(UpdateError::new(
            field,
            "The 'to' field for $rename cannot contain an embedded null byte",
        ));
    }
    let (f, t) = (from.fields(), to.fields());
    if f == t {
        return Err(UpdateError::new(
            field,
            "The source and target field for $rename must differ",
        ));
    }
    if f.starts_with(&t) || t.starts_with(&f) {
        return Err(UpdateError::new(
            field,
            "The source and target field for $rename must not be on the same path",
        ));
    }
    if from.is_dynamic() {
        return Err(UpdateError::new(
            field,
            format!(
                "The source field for $rename may not be dynamic: {}",
                from.text
            ),
        ));
    }
    if to.is_dynamic() {
        return Err(UpdateError::new(
            field,
            format!(
                "The destination field for $rename may not be dynamic: {}",
                to.text
            ),
        ));
    }
    Ok((from, to))
}

/// `$rename`: the source must exist and not lie inside an array; the target may not lie inside
/// an array either. The value moves to the target, then the source is removed.
pub(crate) fn apply(
    doc: &mut Document,
    from: &[String],
    to: &[String],
    ctx: &Applying,
) -> Result<(), UpdateError> {
    let dotted = from.join(".");
    // The source: a path through anything but documents (or arrays by position) is refused.
    let mut current: Option<&Bson> = None;
    let mut through_array = false;
    for (i, part) in from.iter().enumerate() {
        let next = match current {
            None => doc.get(part),
            Some(Bson::Document(d)) => d.get(part),
            Some(Bson::Array(items)) => match path::position(part) {
                Some(p) => {
                    through_array = true;
                    items.get(p)
                }
                None => return Err(traverse_error(from, i)),
            },
            Some(other) => {
                return Err(UpdateError::new(
                    dotted.clone(),
                    format!(
                        "cannot use the part ({} of {dotted}) to traverse the element ({{{}: {}}})",
                        from[i - 1],
                        from[i - 1],
                        type_name(other)
                    ),
                ))
            }
        };
        match next {
            Some(v) => current = Some(v),
            None => return Ok(()),
        }
    }
    let Some(value) = current.cloned() else {
        return Ok(());
    };
    if through_array {
        return Err(UpdateError::new(
            dotted,
            format!(
                "The source field cannot be an array element, '{}' has an array along its path",
                from.join(".")
            ),
        ));
    }
    if from.first().is_some_and(|f| f == "_id") {
        return Err(UpdateError::new(
            dotted,
            format!(
                "Unsetting the path '{}' using $rename would modify the immutable field '_id'",
                from.join(".")
            ),
        ));
    }
    // The target: no array above it, whether it exists or is created.
    let existing = path::existing_prefix(doc, to);
    let above = if existing == to.len() {
        existing - 1
    } else {
        existing
    };
    for depth in 1..=above {
        if matches!(path::get(doc, &to[..depth]), Some(Bson::Array(_))) {
            return Err(UpdateError::new(
                to.join("."),
                format!(
                    "The destination field cannot be an array element, '{}' has an array along its path",
                    to.join(".")
                ),
            ));
        }
    }
    check_storable(
        to,
        if existing == to.len() {
            to.len()
        } else {
            existing + 1
        },
        Kind::Set,
        ctx,
    )?;
    if existing == to.len() {
        if let Some(slot) = path::get_mut(doc, to) {
            *slot = value;
        }
    } else {
        path::create(doc, to, existing, value)?;
    }
    path::remove(doc, from);
    Ok(())
}

fn traverse_error(from: &[String], i: usize) -> UpdateError {
    let dotted = from.join(".");
    UpdateError::new(
        dotted.clone(),
        format!(
            "cannot use the part ({} of {dotted}) to traverse the element ({{{}: array}})",
            from[i],
            from[i - 1]
        ),
    )
}
