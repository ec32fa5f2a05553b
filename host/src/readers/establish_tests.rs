//! Tests of `readers`.

use super::*;

#[test]
fn any_failure_to_get_a_context_is_the_service_unavailable() {
    for error in [
        pcsc::Error::NoService,
        pcsc::Error::ServiceStopped,
        pcsc::Error::InternalError,
        pcsc::Error::NoMemory,
        pcsc::Error::UnknownError,
    ] {
        assert_eq!(
            no_context(error),
            CardError::ServiceUnavailable,
            "{error:?}"
        );
    }
}
