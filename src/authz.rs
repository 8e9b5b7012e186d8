//! Authorisation: who may call which route, decided on the verified identity after routing.
//! Authentication (the chain) is the TLS layer's; today every verified client may call every
//! route it reaches, except an imported route AWS guards with a check Portcullis cannot make,
//! and this is the one place a rule set will decide otherwise.

use crate::error::{Refused, RequestError};
use crate::routing::StageTarget;
use crate::tls::ClientIdentity;

/// Whether `identity` may call route `route` of `target`.
pub fn authorize(
    identity: &ClientIdentity,
    target: &StageTarget,
    route: usize,
) -> Result<(), RequestError> {
    let _ = identity;
    match target.router.closed(route) {
        Some(check) => Err(Refused::Closed(check).into()),
        None => Ok(()),
    }
}
