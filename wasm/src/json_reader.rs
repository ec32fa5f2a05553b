//! Reading JSON into typed values with errors that name the field: the host's request parser
//! (`protocol::parse_request`) and the portal's API (`read_json`) both use it. The parsed tree
//! is wiped when dropped, so a passcode copied into a [`crate::secret::Secret`] leaves no plain
//! copy behind.

use zeroize::Zeroize;

/// A request the host could not accept: answered with a `bad-request` error naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadRequest {
    /// The request's id when it could be read, so the reply can be matched.
    pub id: Option<u32>,
    /// The offending field (`id`, `type`, `passcode`, ...), or `$` for the frame as a whole.
    pub field: String,
    pub message: String,
}

impl BadRequest {
    pub(crate) fn new(id: Option<u32>, field: &str, message: impl Into<String>) -> BadRequest {
        BadRequest {
            id,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Reads any JSON body into `T` with the same typed, field-naming errors as requests (used by
/// the portal's API for its request bodies).
pub fn read_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, BadRequest> {
    let tree = WipedValue(
        serde_json::from_slice::<serde_json::Value>(body)
            .map_err(|e| BadRequest::new(None, "$", format!("The body is not valid JSON: {e}.")))?,
    );
    if !tree.0.is_object() {
        return Err(BadRequest::new(
            None,
            "$",
            "The body must be a JSON object.",
        ));
    }
    serde_path_to_error::deserialize::<_, T>(&tree.0).map_err(|e| {
        let field = field_of(&e);
        let inner = e.into_inner().to_string();
        BadRequest::new(None, &field, format!("Field '{field}': {inner}."))
    })
}

pub(crate) fn read_params<T: serde::de::DeserializeOwned>(
    id: u32,
    params: &serde_json::Value,
) -> Result<T, BadRequest> {
    serde_path_to_error::deserialize::<_, T>(params).map_err(|e| {
        let field = field_of(&e);
        let inner = e.into_inner().to_string();
        BadRequest::new(Some(id), &field, format!("Field '{field}': {inner}."))
    })
}

/// The field a serde error is about: its path, or for a missing field (which serde reports
/// against the enclosing object) that object's path and the field's name.
fn field_of(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = error.path().to_string();
    let message = error.inner().to_string();
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            return if path == "." {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
        }
    }
    match path.as_str() {
        "." => "$".to_string(),
        // A key that is the empty string (`{"": 1}`): named as JSON writes it, so the
        // refusal still names a field.
        "" => "\"\"".to_string(),
        _ => path,
    }
}

/// A parsed JSON tree whose strings are overwritten when it is dropped.
pub(crate) struct WipedValue(pub(crate) serde_json::Value);

impl Drop for WipedValue {
    fn drop(&mut self) {
        fn wipe(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::String(s) => s.zeroize(),
                serde_json::Value::Array(items) => items.iter_mut().for_each(wipe),
                serde_json::Value::Object(map) => map.values_mut().for_each(wipe),
                _ => {}
            }
        }
        wipe(&mut self.0);
    }
}
