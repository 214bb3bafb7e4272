//! The paths of one update may not collide: MongoDB merges them into a tree in which a path
//! may end only where nothing else passes, and a level holds either array updates (`$[]`,
//! `$[<id>]`) or fields, not both. Collisions that depend on the document (two dynamic paths
//! reaching the same element) are found when the update applies.

use std::collections::BTreeMap;

use super::path::{Part, UpdatePath};
use super::UpdateError;

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Kind {
    Object,
    Array,
    Leaf,
}

#[derive(Debug)]
struct Node {
    kind: Kind,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn new(kind: Kind) -> Node {
        Node {
            kind,
            children: BTreeMap::new(),
        }
    }
}

/// Adds paths one by one, refusing the first that collides with one added before.
#[derive(Debug)]
pub(crate) struct PathTree {
    root: Node,
}

impl PathTree {
    pub(crate) fn new() -> PathTree {
        PathTree {
            root: Node::new(Kind::Object),
        }
    }

    pub(crate) fn add(&mut self, path: &UpdatePath) -> Result<(), UpdateError> {
        let conflict = |at: String| {
            UpdateError::new(
                path.text.clone(),
                format!(
                    "Updating the path '{}' would create a conflict at '{at}'",
                    path.text
                ),
            )
        };
        let parts = &path.parts;
        let Some((last, parents)) = parts.split_last() else {
            return Err(UpdateError::new("", "An empty update path is not valid."));
        };
        let mut current = &mut self.root;
        for (i, part) in parents.iter().enumerate() {
            let wanted = if matches!(parts[i + 1], Part::All | Part::Filtered(_)) {
                Kind::Array
            } else {
                Kind::Object
            };
            let child = current
                .children
                .entry(part.key())
                .or_insert_with(|| Node::new(wanted));
            if child.kind != wanted {
                return Err(conflict(prefix(parts, i + 1)));
            }
            current = child;
        }
        if current.children.contains_key(&last.key()) {
            return Err(conflict(path.text.clone()));
        }
        current.children.insert(last.key(), Node::new(Kind::Leaf));
        Ok(())
    }
}

fn prefix(parts: &[Part], len: usize) -> String {
    parts[..len]
        .iter()
        .map(Part::key)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(paths: &[&str]) -> Result<(), UpdateError> {
        let mut t = PathTree::new();
        for p in paths {
            t.add(&UpdatePath::parse(p).unwrap())?;
        }
        Ok(())
    }

    #[test]
    fn collisions() {
        assert!(tree(&["a", "b.c"]).is_ok());
        assert!(tree(&["a", "a.b"]).is_err());
        assert!(tree(&["a.b", "a"]).is_err());
        assert!(tree(&["a.$[i]", "a.$"]).is_err());
        assert!(tree(&["a.$[i]", "a.0"]).is_err());
        assert!(tree(&["a.$", "a.0"]).is_ok());
        assert!(tree(&["a.$[i].b.$[k].c", "a.$[j].b.$[k].d"]).is_ok());
        let err = tree(&["a.$[i]", "a.b"]).unwrap_err();
        assert!(err.message.ends_with("conflict at 'a'"), "{err}");
    }
}
