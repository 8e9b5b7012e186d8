//! Authorisation: who may call which route, decided on the verified identity after routing.
//! Authentication (the chain) is the TLS layer's; here named rule sets (`[authorization.NAME]`)
//! over the certificate's fields and the client's address allow and deny, the route's set
//! before the stage's before the domain's. No rule set means any client the truststore accepts. An imported route AWS guards
//! with a check Portcullis cannot make is closed to every caller.

use std::net::IpAddr;
use std::sync::Arc;

use crate::config::{Rule, RuleSet, any_contains};
use crate::error::{Denial, Refused, RequestError};
use crate::routing::{DomainRoutes, StageTarget};
use crate::tls::ClientIdentity;

/// Who is calling, as rules see it: the verified certificate, and where the call comes from.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The verified client identity.
    pub identity: &'a ClientIdentity,
    /// The client's address (the PROXY protocol header's behind a load balancer); `None`
    /// where it is not known, as in `explain` without `--source-ip`.
    pub source: Option<IpAddr>,
}

impl<'a> Caller<'a> {
    /// The caller behind `identity`, from an unknown address.
    pub fn new(identity: &'a ClientIdentity) -> Self {
        Caller {
            identity,
            source: None,
        }
    }

    /// The same caller, calling from `source`.
    pub fn from_address(self, source: IpAddr) -> Self {
        Caller {
            source: Some(source),
            ..self
        }
    }
}

impl Rule {
    /// Whether every field this rule sets matches the caller (any value of a field does). A
    /// caller without a verified certificate matches no rule, nor one from an unknown
    /// address a rule with `source_ip`.
    pub fn matches(&self, caller: &Caller<'_>) -> bool {
        self.matches_if_unknown(caller, false)
    }

    /// Like [`Rule::matches`], but `source_ip` counts as matched when the caller's address is
    /// unknown: how deny rules are judged, so that no unknown address escapes a denial.
    fn may_match(&self, caller: &Caller<'_>) -> bool {
        self.matches_if_unknown(caller, true)
    }

    fn matches_if_unknown(&self, caller: &Caller<'_>, unknown_source_matches: bool) -> bool {
        let id = caller.identity;
        if !id.is_verified() {
            return false;
        }
        let source = self.source_ip.is_empty()
            || caller.source.map_or(unknown_source_matches, |ip| {
                any_contains(&self.source_ip, ip)
            });
        let any = |wanted: &[String], have: &[String]| {
            wanted.is_empty() || wanted.iter().any(|w| have.contains(w))
        };
        source
            && any(&self.subject_cn, &id.subject_cn)
            && any(&self.subject_o, &id.subject_o)
            && any(&self.subject_ou, &id.subject_ou)
            && (self.dns_san.is_empty()
                || self
                    .dns_san
                    .iter()
                    .any(|w| id.dns.iter().any(|d| d.eq_ignore_ascii_case(w))))
            && (self.uri_san.is_empty()
                || self
                    .uri_san
                    .iter()
                    .any(|p| id.uris.iter().any(|u| p.matches(u))))
            && (self.email_san.is_empty()
                || self
                    .email_san
                    .iter()
                    .any(|w| id.emails.iter().any(|e| same_email(w, e))))
            && (self.issuer_dn.is_empty() || self.issuer_dn.contains(&id.issuer))
            && (self.issuer_sha256.is_empty()
                || id
                    .issuer_sha256
                    .is_some_and(|d| self.issuer_sha256.contains(&d)))
            && (self.spki_sha256.is_empty() || self.spki_sha256.contains(&id.spki_sha256))
            && (self.serial.is_empty() || {
                let serial = id.serial.trim_start_matches('0');
                let serial = if serial.is_empty() { "0" } else { serial };
                self.serial.iter().any(|s| s == serial)
            })
    }
}

/// E-mail addresses compare exactly in the local part, without regard to case in the domain.
fn same_email(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => a == b,
    }
}

/// What a rule set decides for one caller, and by which rule.
#[derive(Debug, Clone, Copy)]
pub enum Verdict<'r> {
    /// No rule set applies: any client the truststore accepts.
    Open,
    /// Allowed by `allow[by]`, or (`None`) by a set without `allow` whose denials all missed.
    Allowed {
        /// The deciding set.
        set: &'r RuleSet,
        /// The allow rule that matched.
        by: Option<usize>,
    },
    /// Refused by the explicit deny rule `deny[by]`.
    Denied {
        /// The deciding set.
        set: &'r RuleSet,
        /// The deny rule that matched.
        by: usize,
    },
    /// Refused: the set has allow rules and none matched.
    NotAllowed {
        /// The deciding set.
        set: &'r RuleSet,
    },
}

impl RuleSet {
    /// Decide for `caller`: an explicit deny beats any allow. From an unknown address, a
    /// rule with `source_ip` allows nothing and denies what its other fields match.
    pub fn decide(&self, caller: &Caller<'_>) -> Verdict<'_> {
        if let Some(by) = self.deny.iter().position(|r| r.may_match(caller)) {
            return Verdict::Denied { set: self, by };
        }
        match &self.allow {
            None => Verdict::Allowed {
                set: self,
                by: None,
            },
            Some(allow) => match allow.iter().position(|r| r.matches(caller)) {
                Some(by) => Verdict::Allowed {
                    set: self,
                    by: Some(by),
                },
                None => Verdict::NotAllowed { set: self },
            },
        }
    }
}

impl Verdict<'_> {
    /// Whether the caller may go on.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Open | Verdict::Allowed { .. })
    }

    /// The deciding rule, such as `partners.deny[0]` or `partners.allow` (none of them).
    pub fn rule(&self) -> String {
        match self {
            Verdict::Open => String::new(),
            Verdict::Allowed { set, by: Some(i) } => format!("{}.allow[{i}]", set.name),
            Verdict::Allowed { set, by: None } => format!("{}.deny", set.name),
            Verdict::Denied { set, by } => format!("{}.deny[{by}]", set.name),
            Verdict::NotAllowed { set } => format!("{}.allow", set.name),
        }
    }

    /// The decision in words: the text both the access log and `explain` give.
    pub fn reason(&self) -> String {
        let fields = |r: &Rule| r.fields().join(", ");
        match self {
            Verdict::Open => {
                "no authorization rule set applies: any client the truststore accepts".into()
            }
            Verdict::Allowed { set, by: Some(i) } => {
                let rule = set.allow.as_ref().and_then(|a| a.get(*i));
                format!(
                    "{} matches the client ({})",
                    self.rule(),
                    rule.map(fields).unwrap_or_default()
                )
            }
            Verdict::Allowed { by: None, .. } | Verdict::NotAllowed { .. } => {
                format!("no rule of {} matches the client", self.rule())
            }
            Verdict::Denied { set, by } => format!(
                "{} matches the client ({}): an explicit deny",
                self.rule(),
                set.deny.get(*by).map(fields).unwrap_or_default()
            ),
        }
    }
}

/// Where the rule set that decides a route comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The route's own `authorization`.
    Route,
    /// The stage's.
    Stage,
    /// The domain's.
    Domain,
}

impl Level {
    /// `route`, `stage` or `domain`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Route => "route",
            Level::Stage => "stage",
            Level::Domain => "domain",
        }
    }
}

/// The rule set that decides route `route` of `target` on a domain whose own set is
/// `domain`: the innermost one named, with where it was named.
pub fn effective<'a>(
    domain: Option<&'a Arc<RuleSet>>,
    target: &'a StageTarget,
    route: usize,
) -> Option<(&'a Arc<RuleSet>, Level)> {
    target
        .router
        .authorization(route)
        .map(|s| (s, Level::Route))
        .or_else(|| target.authorization.as_ref().map(|s| (s, Level::Stage)))
        .or_else(|| domain.map(|s| (s, Level::Domain)))
}

/// The verdict for `caller` on route `route` of `target`.
pub fn decide<'a>(
    caller: &Caller<'_>,
    domain: Option<&'a Arc<RuleSet>>,
    target: &'a StageTarget,
    route: usize,
) -> Verdict<'a> {
    match effective(domain, target, route) {
        None => Verdict::Open,
        Some((set, _)) => set.decide(caller),
    }
}

/// Whether `caller` may call route `route` of `target`; a refusal names its rule.
pub fn authorize(
    caller: &Caller<'_>,
    domain: Option<&Arc<RuleSet>>,
    target: &StageTarget,
    route: usize,
) -> Result<(), RequestError> {
    let verdict = decide(caller, domain, target, route);
    if verdict.is_allowed() {
        return match target.router.closed(route) {
            Some(check) => Err(Refused::Closed(check).into()),
            None => Ok(()),
        };
    }
    Err(RequestError::AccessDenied(Box::new(Denial {
        rule: verdict.rule(),
        reason: verdict.reason(),
        explicit: matches!(verdict, Verdict::Denied { .. }),
    })))
}

/// The distinct rule sets that decide the routes a domain reaches; `None` when some route
/// has none (any verified client may call it) or the domain reaches no route.
pub fn reachable(
    domain: Option<&Arc<RuleSet>>,
    routes: &DomainRoutes,
) -> Option<Vec<Arc<RuleSet>>> {
    let mut sets: Vec<Arc<RuleSet>> = Vec::new();
    for target in routes.targets() {
        for route in 0..target.router.len() {
            let (set, _) = effective(domain, target, route)?;
            if !sets.iter().any(|s| Arc::ptr_eq(s, set)) {
                sets.push(set.clone());
            }
        }
    }
    (!sets.is_empty()).then_some(sets)
}

/// Whether `caller` may still call some route of a domain whose routes `sets` decide (see
/// [`reachable`]); why not otherwise, in the words of each refusing set.
pub fn may_call_some_route(
    caller: &Caller<'_>,
    sets: Option<&[Arc<RuleSet>]>,
) -> Result<(), String> {
    let Some(sets) = sets else {
        return Ok(());
    };
    let mut reasons = Vec::with_capacity(sets.len());
    for set in sets {
        let verdict = set.decide(caller);
        if verdict.is_allowed() {
            return Ok(());
        }
        reasons.push(verdict.reason());
    }
    Err(format!(
        "no route of the domain allows the client any more: {}",
        reasons.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> ClientIdentity {
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "reader");
        params.serial_number = Some(rcgen::SerialNumber::from(0x1f3a_u64));
        params.subject_alt_names = vec![rcgen::SanType::Rfc822Name(
            "reader@Corp.Example".try_into().unwrap(),
        )];
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        ClientIdentity::from_der(&der).unwrap()
    }

    fn set(allow: Option<Vec<Rule>>, deny: Vec<Rule>) -> RuleSet {
        RuleSet {
            name: "partners".into(),
            allow,
            deny,
        }
    }

    fn cn(names: &[&str]) -> Rule {
        Rule {
            subject_cn: names.iter().map(|n| (*n).to_owned()).collect(),
            ..Rule::default()
        }
    }

    #[test]
    fn deny_beats_allow_and_each_verdict_names_its_rule() {
        let id = identity();
        let caller = Caller::new(&id);
        let serial = Rule {
            serial: vec!["1f3a".into()],
            ..Rule::default()
        };
        let s = set(Some(vec![cn(&["x"]), cn(&["reader"])]), vec![]);
        let v = s.decide(&caller);
        assert!(v.is_allowed());
        assert_eq!(
            v.reason(),
            "partners.allow[1] matches the client (subject_cn)"
        );
        let s = set(Some(vec![cn(&["reader"])]), vec![serial]);
        let v = s.decide(&caller);
        assert!(!v.is_allowed());
        assert_eq!(v.rule(), "partners.deny[0]");
        assert_eq!(
            v.reason(),
            "partners.deny[0] matches the client (serial): an explicit deny"
        );
        let s = set(Some(vec![cn(&["x"])]), vec![]);
        assert_eq!(s.decide(&caller).rule(), "partners.allow");
        let s = set(None, vec![cn(&["x"])]);
        let v = s.decide(&caller);
        assert!(v.is_allowed());
        assert_eq!(v.reason(), "no rule of partners.deny matches the client");
    }

    #[test]
    fn fields_of_a_rule_must_all_match_and_email_domains_ignore_case() {
        let id = identity();
        let caller = Caller::new(&id);
        let both = Rule {
            subject_cn: vec!["reader".into()],
            email_san: vec!["reader@corp.example".into()],
            ..Rule::default()
        };
        assert!(both.matches(&caller));
        let wrong_local = Rule {
            email_san: vec!["READER@corp.example".into()],
            ..both.clone()
        };
        assert!(!wrong_local.matches(&caller));
    }

    #[test]
    fn source_ip_matches_the_callers_address_and_an_unknown_one_never_escapes_a_deny() {
        let id = identity();
        let from = |ip: &str| Caller::new(&id).from_address(ip.parse().unwrap());
        let office = Rule {
            source_ip: vec![crate::config::Cidr::parse("192.0.2.0/24").unwrap()],
            ..cn(&["reader"])
        };
        assert!(office.matches(&from("192.0.2.7")));
        assert!(!office.matches(&from("198.51.100.7")));
        assert!(!office.matches(&Caller::new(&id)), "unknown address");
        let allow = set(Some(vec![office.clone()]), vec![]);
        assert!(allow.decide(&from("192.0.2.7")).is_allowed());
        assert!(!allow.decide(&Caller::new(&id)).is_allowed());
        let deny = set(None, vec![office]);
        assert!(deny.decide(&from("198.51.100.7")).is_allowed());
        let v = deny.decide(&Caller::new(&id));
        assert!(!v.is_allowed(), "an unknown address must not escape a deny");
        assert_eq!(
            v.reason(),
            "partners.deny[0] matches the client (subject_cn, source_ip): an explicit deny"
        );
    }

    #[test]
    fn a_client_without_a_certificate_matches_no_rule() {
        let anonymous = ClientIdentity::anonymous();
        let deny_everyone_named = Rule {
            spki_sha256: vec![[0; 32]],
            ..Rule::default()
        };
        assert!(!deny_everyone_named.matches(&Caller::new(&anonymous)));
    }
}
