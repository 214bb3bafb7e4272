//! Reading and writing dotted paths inside a document, creating what is missing.

use bson::{Bson, Document};

use super::UpdateError;

/// The value at a dotted path (documents by name, arrays by index), if present.
pub(crate) fn get<'a>(doc: &'a Document, path: &[String]) -> Option<&'a Bson> {
    let (first, rest) = path.split_first()?;
    let mut current = doc.get(first)?;
    for part in rest {
        current = match current {
            Bson::Document(d) => d.get(part)?,
            Bson::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// A mutable slot for a path's last component, creating intermediate documents as needed.
/// Returns the container and the last component.
pub(crate) fn set(doc: &mut Document, path: &[String], value: Bson) -> Result<(), UpdateError> {
    let (last, parents) = path
        .split_last()
        .ok_or_else(|| UpdateError::new("", "empty field path"))?;
    let mut container = Container::Doc(doc);
    for (i, part) in parents.iter().enumerate() {
        container = container.child_or_create(part, &path[..=i])?;
    }
    container.put(last, value, path)
}

/// Removes the value at a path. Array elements become `null`, as MongoDB's `$unset` does.
pub(crate) fn unset(doc: &mut Document, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut current: &mut Bson = match parents.first() {
        None => return doc.remove(last).is_some(),
        Some(first) => match doc.get_mut(first) {
            Some(v) => v,
            None => return false,
        },
    };
    for part in parents.iter().skip(1) {
        current = match current {
            Bson::Document(d) => match d.get_mut(part) {
                Some(v) => v,
                None => return false,
            },
            Bson::Array(items) => match part.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match current {
        Bson::Document(d) => d.remove(last).is_some(),
        Bson::Array(items) => match last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
            Some(slot) => {
                *slot = Bson::Null;
                true
            }
            None => false,
        },
        _ => false,
    }
}

enum Container<'a> {
    Doc(&'a mut Document),
    Array(&'a mut Vec<Bson>),
}

fn dotted(path: &[String]) -> String {
    path.join(".")
}

impl<'a> Container<'a> {
    fn child_or_create(self, part: &str, so_far: &[String]) -> Result<Container<'a>, UpdateError> {
        let slot: &'a mut Bson = match self {
            Container::Doc(d) => {
                if !d.contains_key(part) {
                    d.insert(part, Bson::Document(Document::new()));
                }
                match d.get_mut(part) {
                    Some(slot) => slot,
                    None => {
                        return Err(UpdateError::new(dotted(so_far), "cannot create the field"))
                    }
                }
            }
            Container::Array(items) => {
                let index = array_index(part, so_far)?;
                while items.len() <= index {
                    items.push(Bson::Null);
                }
                if items[index] == Bson::Null {
                    items[index] = Bson::Document(Document::new());
                }
                &mut items[index]
            }
        };
        match slot {
            Bson::Document(d) => Ok(Container::Doc(d)),
            Bson::Array(items) => Ok(Container::Array(items)),
            other => Err(UpdateError::new(
                dotted(so_far),
                format!(
                    "Cannot create field in element '{part}' of type {}",
                    super::operators::type_name(other)
                ),
            )),
        }
    }

    fn put(self, last: &str, value: Bson, path: &[String]) -> Result<(), UpdateError> {
        match self {
            Container::Doc(d) => {
                d.insert(last, value);
                Ok(())
            }
            Container::Array(items) => {
                let index = array_index(last, path)?;
                while items.len() <= index {
                    items.push(Bson::Null);
                }
                items[index] = value;
                Ok(())
            }
        }
    }
}

/// Largest array position an update may create (MongoDB refuses to pad arrays without bound).
const MAX_PAD: usize = 1_500_000;

fn array_index(part: &str, path: &[String]) -> Result<usize, UpdateError> {
    match part.parse::<usize>() {
        Ok(i) if i <= MAX_PAD => Ok(i),
        Ok(_) => Err(UpdateError::new(dotted(path), "array index too large")),
        Err(_) => Err(UpdateError::new(
            dotted(path),
            format!("Cannot create field '{part}' in an array: it is not a position"),
        )),
    }
}
