//! The checks every request passes before it is routed: head and target size, framing a proxy
//! could disagree about with the upstream, one authority, and path hygiene.

use http::Request;
use http::header;
use hyper::body::Incoming;

use crate::config::Limits;
use crate::error::Refused;

/// Refuse a request the gateway must not route or forward.
pub fn request(req: &Request<Incoming>, limits: &Limits) -> Result<(), Refused> {
    if head_size(req) > limits.max_header_bytes {
        return Err(Refused::HeadTooLarge);
    }
    let target_len = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    if target_len > limits.max_uri_bytes {
        return Err(Refused::UriTooLong);
    }
    framing(req, limits)?;
    host(req)?;
    if crate::path::check_path(req.uri().path().as_bytes()).is_err() {
        return Err(Refused::BadRequest("Invalid request path"));
    }
    Ok(())
}

/// Size of the request head as it arrived, near enough: request line plus header lines.
fn head_size(req: &Request<Incoming>) -> usize {
    let uri = req.uri();
    let mut n = req.method().as_str().len()
        + uri.path_and_query().map_or(1, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + 12;
    for (name, value) in req.headers() {
        n += name.as_str().len() + value.len() + 4;
    }
    n
}

/// Refuse framing a proxy could disagree about with the upstream.
fn framing(req: &Request<Incoming>, limits: &Limits) -> Result<(), Refused> {
    let h = req.headers();
    if h.contains_key(crate::framing::AMBIGUOUS_MARK) {
        return Err(Refused::BadRequest(
            "Both Content-Length and Transfer-Encoding",
        ));
    }
    let te = h.get_all(header::TRANSFER_ENCODING);
    let mut te_count = 0;
    for v in te.iter() {
        te_count += 1;
        if !v.as_bytes().eq_ignore_ascii_case(b"chunked") {
            return Err(Refused::BadRequest("Unsupported transfer coding"));
        }
    }
    if te_count > 1 {
        return Err(Refused::BadRequest("Unsupported transfer coding"));
    }
    let mut cl: Option<u64> = None;
    for v in h.get_all(header::CONTENT_LENGTH) {
        let parsed = v
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(Refused::BadRequest("Invalid Content-Length"))?;
        if cl.is_some_and(|c| c != parsed) {
            return Err(Refused::BadRequest("Invalid Content-Length"));
        }
        cl = Some(parsed);
    }
    if te_count > 0 && cl.is_some() {
        return Err(Refused::BadRequest(
            "Both Content-Length and Transfer-Encoding",
        ));
    }
    if cl.is_some_and(|c| c > limits.max_body_bytes) {
        return Err(Refused::BodyTooLarge);
    }
    Ok(())
}

/// One authority per request: a second `Host`, or a `Host` that disagrees with `:authority`
/// or an absolute-form target, could make the upstream see another host than the one routed.
fn host(req: &Request<Incoming>) -> Result<(), Refused> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Refused::BadRequest("More than one Host header"));
    }
    if let (Some(host), Some(authority)) = (host, req.uri().authority()) {
        if !host
            .as_bytes()
            .eq_ignore_ascii_case(authority.as_str().as_bytes())
        {
            return Err(Refused::BadRequest(
                "Host header does not match the request authority",
            ));
        }
    }
    Ok(())
}
