//! Documents handed over one at a time: a server cursor read batch by batch, or a list.

use bson::{Document, RawDocumentBuf};
use futures_util::TryStreamExt;

use super::StoreError;

/// The documents of a query or pipeline, one at a time, so a caller can look at each without
/// holding them all (see [`Store::aggregate_stream`](super::Store::aggregate_stream)).
///
/// ```
/// use bson::doc;
/// use expanse::store::DocumentStream;
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// let mut stream = DocumentStream::from_documents(vec![doc! {"a": 1}]);
/// assert_eq!(block_on(stream.next()).unwrap().unwrap(), doc! {"a": 1});
/// assert!(block_on(stream.next()).is_none());
/// ```
pub struct DocumentStream {
    inner: Inner,
}

enum Inner {
    Listed(std::vec::IntoIter<Document>),
    Cursor(Box<mongodb::Cursor<RawDocumentBuf>>),
}

impl DocumentStream {
    /// The documents of a list.
    pub fn from_documents(documents: Vec<Document>) -> DocumentStream {
        DocumentStream {
            inner: Inner::Listed(documents.into_iter()),
        }
    }

    /// The documents of a server cursor, each checked before it is decoded.
    pub(crate) fn from_cursor(cursor: mongodb::Cursor<RawDocumentBuf>) -> DocumentStream {
        DocumentStream {
            inner: Inner::Cursor(Box::new(cursor)),
        }
    }

    /// The next document; `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Document, StoreError>> {
        match &mut self.inner {
            Inner::Listed(docs) => docs.next().map(Ok),
            Inner::Cursor(cursor) => match cursor.try_next().await {
                Ok(Some(raw)) => Some(super::mongo::decoded(&raw)),
                Ok(None) => None,
                Err(e) => Some(Err(super::mongo::map_error(e))),
            },
        }
    }
}
