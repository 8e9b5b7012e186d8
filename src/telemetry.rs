//! Logging: the tracing subscriber, and the one access-log line per request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// Install the global subscriber (to stderr); `RUST_LOG` overrides the default level (`info`).
/// Access lines bypass it: [`AccessLog::emit`] hands them to the access log's buffered writer,
/// started here; only when that writer cannot start do they go through the subscriber.
pub fn init(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let writer = crate::access_log::start();
    if writer.is_ok() {
        let _ = FORMAT.set(format);
    }
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer(format, std::io::stderr, terminal()))
        .try_init();
    if let Err(e) = writer {
        tracing::warn!(error = %e, "cannot start the access log writer thread; access lines go to stderr unbuffered");
    }
}

/// The log format [`init`] installed, set once the access log's writer runs: access lines are
/// then written past tracing, in this format.
static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

thread_local! {
    /// The access line being written, its capacity kept for the thread's next request.
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    /// A custom `[access_log] format`'s rendering, before it is quoted into the line.
    static CUSTOM: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The subscriber the layers stack on.
type Base = tracing_subscriber::layer::Layered<EnvFilter, tracing_subscriber::Registry>;

/// A `fmt` layer in `format` writing to `writer`.
fn fmt_layer<W>(
    format: LogFormat,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing_subscriber::Layer<Base> + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer as _;
    let builder = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.with_target(true).boxed(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .boxed(),
    }
}

/// True when stderr is a terminal: only then are lines coloured.
fn terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Counts requests in flight on a connection, so idle detection leaves them alone.
#[derive(Debug, Default)]
pub struct InFlight(std::sync::atomic::AtomicUsize, std::sync::atomic::AtomicU64);

impl InFlight {
    /// How many requests are in flight.
    pub fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many requests have started on the connection: HTTP/2's activity measure, since
    /// PINGs and other control frames move bytes without being requests.
    pub fn started(&self) -> u64 {
        self.1.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Decrements an [`InFlight`] counter when dropped.
#[derive(Debug)]
pub struct InFlightGuard(Arc<InFlight>);

impl InFlightGuard {
    /// Count one more request in flight.
    pub fn new(counter: Arc<InFlight>) -> Self {
        counter.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        counter.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        InFlightGuard(counter)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Everything the access-log line says about one request; emitted when the response is done.
#[derive(Debug)]
pub struct AccessLog {
    /// Request id (echoed in `x-request-id`).
    pub request_id: http::HeaderValue,
    /// Client address.
    pub client: SocketAddr,
    /// Client certificate subject.
    pub subject: Arc<crate::tls::ClientIdentity>,
    /// Domain (SNI name).
    pub domain: Arc<str>,
    /// Method.
    pub method: http::Method,
    /// Request target as received (path shown in the log).
    pub uri: http::Uri,
    /// Matched route, such as `GET /inventory`.
    pub route: Option<Arc<str>>,
    /// API and stage.
    pub api_stage: Option<(Arc<str>, Arc<str>)>,
    /// Upstream target `host:port`.
    pub upstream: Option<http::uri::Authority>,
    /// Response status.
    pub status: u16,
    /// Gateway response type when the gateway answered itself.
    pub error: Option<&'static str>,
    /// Which side failed, when the gateway answered itself.
    pub side: Option<crate::error::Side>,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// Request start.
    pub start: Instant,
    /// Time to the upstream's response head.
    pub upstream_latency: Option<Duration>,
    /// The response body stream broke off.
    pub aborted: bool,
    /// Why it broke off (`upstream_idle`, `client_stalled`, ...), see [`crate::body::cut`].
    pub cut: Option<&'static str>,
    /// Keeps the connection's in-flight count until the response is done.
    pub in_flight: Option<InFlightGuard>,
    /// The request body's byte count.
    pub body: Arc<crate::body::BodyVerdict>,
    /// The upstream target, held (counted in flight) until the response is done.
    pub lease: Option<crate::upstream::Lease>,
    /// The upstream connection, parked for the next exchange once the response is done.
    pub connection: Option<crate::upstream::Connection>,
    /// Where the request's numbers are counted, through the connection's cached handles.
    pub cache: Arc<MetricCache>,
    /// HTTP version of the request.
    pub version: http::Version,
    /// The `[access_log] format`, when set: the line is that instead of the default fields.
    pub format: Option<Arc<crate::access_format::AccessFormat>>,
    /// The gateway response's message, when the gateway answered itself.
    pub error_message: Option<&'static str>,
    /// The authorization rule that refused the request, and why.
    pub denial: Option<Box<crate::error::Denial>>,
}

/// One connection's way to the metrics: the registry, its own copy of the domain's name (a
/// request's log clones it: a clone of the configuration's would write a reference count that
/// every worker's core writes), and the handles of its last request's labels.
#[derive(Debug)]
pub struct MetricCache {
    metrics: Arc<crate::metrics::Metrics>,
    domain: Arc<str>,
    handles: std::sync::Mutex<Option<MetricHandles>>,
    names: std::sync::Mutex<Option<RouteNames>>,
}

/// The connection's copies of the names of the last route it was routed to.
#[derive(Debug)]
struct RouteNames {
    /// The stage they belong to; held weakly so its address is not reused while cached.
    target: std::sync::Weak<crate::routing::StageTarget>,
    /// The route's index in the stage.
    index: usize,
    /// The route, API and stage names.
    route: Arc<str>,
    api: Arc<str>,
    stage: Arc<str>,
}

impl MetricCache {
    /// The cache of a connection to `domain`, counting in `metrics`.
    pub fn new(metrics: Arc<crate::metrics::Metrics>, domain: &str) -> MetricCache {
        MetricCache {
            metrics,
            domain: Arc::from(domain),
            handles: std::sync::Mutex::new(None),
            names: std::sync::Mutex::new(None),
        }
    }

    /// The route, API and stage names of route `index` of `target`, as the connection's own
    /// copies (made once per connection and route).
    pub fn route_names(
        &self,
        target: &Arc<crate::routing::StageTarget>,
        index: usize,
    ) -> (Arc<str>, Arc<str>, Arc<str>) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let hit = names.as_ref().is_some_and(|n| {
            n.index == index && std::ptr::eq(n.target.as_ptr(), Arc::as_ptr(target))
        });
        if !hit {
            *names = None;
        }
        let n = names.get_or_insert_with(|| RouteNames {
            target: Arc::downgrade(target),
            index,
            route: Arc::from(&**target.router.name(index)),
            api: Arc::from(&*target.api),
            stage: Arc::from(&*target.stage),
        });
        (n.route.clone(), n.api.clone(), n.stage.clone())
    }

    /// The connection's copy of the domain's name.
    pub fn domain(&self) -> &Arc<str> {
        &self.domain
    }
}

/// Metric handles for one (domain, route, status), so a repeated request skips the label
/// hashing of the metric families.
#[derive(Debug)]
pub struct MetricHandles {
    // The Arcs are held, so their addresses cannot be reused by other names while cached.
    domain: Arc<str>,
    route: Option<Arc<str>>,
    status: u16,
    requests: crate::metrics::WorkerCounter,
    duration: crate::metrics::WorkerHistogram,
    bytes_in: crate::metrics::WorkerCounter,
    bytes_out: crate::metrics::WorkerCounter,
}

impl crate::body::Outcome for AccessLog {
    fn finish(mut self: Box<Self>, bytes: u64, cut: Option<&'static str>) {
        self.bytes_out = bytes;
        self.aborted = cut.is_some();
        self.cut = cut;
        self.emit();
    }
}

impl AccessLog {
    /// Write the line, and count the request in the metrics.
    pub fn emit(&self) {
        self.record();
        if !tracing::enabled!(target: crate::access_log::TARGET, tracing::Level::INFO) {
            return;
        }
        // The writer started (`serve`, `demo`): the line goes to it directly, byte for byte
        // what the tracing formatter would write, without its cost on every request.
        if let Some(format) = FORMAT.get() {
            let json = *format == LogFormat::Json;
            let written = LINE.with(|cell| {
                let Ok(mut line) = cell.try_borrow_mut() else {
                    return false;
                };
                line.clear();
                self.write_line(&mut line, json);
                crate::access_log::push(line.as_bytes())
            });
            if written {
                return;
            }
        }
        self.emit_through_tracing();
    }

    /// The line as `[access_log] format` or the default fields make it, in `json` or text.
    fn write_line(&self, out: &mut String, json: bool) {
        use crate::access_log::line::{self, Value};
        if let Some(format) = &self.format {
            CUSTOM.with(|cell| match cell.try_borrow_mut() {
                Ok(mut custom) => {
                    custom.clear();
                    format.render_into(&mut custom, |v, out| self.variable(v, out));
                    line::write(out, json, &custom, &[]);
                }
                Err(_) => {
                    let custom = format.render(|v, out| self.variable(v, out));
                    line::write(out, json, &custom, &[]);
                }
            });
            return;
        }
        let (api, stage) = match &self.api_stage {
            Some((a, s)) => (&**a, &**s),
            None => ("", ""),
        };
        let mut client = [0u8; 64];
        let client = shown(&mut client, &self.client);
        let fields = [
            (
                "request_id",
                Value::Str(self.request_id.to_str().unwrap_or("")),
            ),
            ("client", Value::Shown(client)),
            ("subject", Value::Shown(&self.subject.subject)),
            ("domain", Value::Str(&self.domain)),
            ("method", Value::Shown(self.method.as_str())),
            ("path", Value::Shown(self.uri.path())),
            ("route", Value::Str(self.route.as_deref().unwrap_or(""))),
            ("api", Value::Str(api)),
            ("stage", Value::Str(stage)),
            (
                "upstream",
                Value::Str(self.upstream.as_ref().map_or("", |a| a.as_str())),
            ),
            ("status", Value::Num(self.status.into())),
            ("error", Value::Str(self.error.unwrap_or(""))),
            (
                "side",
                Value::Str(self.side.map_or("", crate::error::Side::as_str)),
            ),
            ("bytes", Value::Num(self.bytes_out)),
            ("bytes_in", Value::Num(self.body.bytes())),
            (
                "latency_us",
                Value::Num(self.start.elapsed().as_micros() as u64),
            ),
            (
                "upstream_latency_us",
                Value::Num(self.upstream_latency.map_or(0, |d| d.as_micros() as u64)),
            ),
            ("aborted", Value::Bool(self.aborted)),
            ("cut", Value::Str(self.cut.unwrap_or(""))),
            (
                "authz_rule",
                Value::Str(self.denial.as_ref().map_or("", |d| &d.rule)),
            ),
            (
                "authz_reason",
                Value::Str(self.denial.as_ref().map_or("", |d| &d.reason)),
            ),
        ];
        line::write(out, json, "request", &fields);
    }

    /// The line through the tracing subscriber, when no access-log writer runs (a gateway
    /// served in-process, as tests do).
    fn emit_through_tracing(&self) {
        if let Some(format) = &self.format {
            let line = format.render(|v, out| self.variable(v, out));
            tracing::info!(target: crate::access_log::TARGET, "{line}");
            return;
        }
        let (api, stage) = match &self.api_stage {
            Some((a, s)) => (&**a, &**s),
            None => ("", ""),
        };
        tracing::info!(
            target: crate::access_log::TARGET,
            request_id = self.request_id.to_str().unwrap_or(""),
            client = %self.client,
            subject = %self.subject.subject,
            domain = &*self.domain,
            method = %self.method,
            path = %self.uri.path(),
            route = self.route.as_deref().unwrap_or(""),
            api,
            stage,
            upstream = self.upstream.as_ref().map_or("", |a| a.as_str()),
            status = self.status,
            error = self.error.unwrap_or(""),
            side = self.side.map_or("", crate::error::Side::as_str),
            bytes = self.bytes_out,
            bytes_in = self.body.bytes(),
            latency_us = self.start.elapsed().as_micros() as u64,
            upstream_latency_us = self.upstream_latency.map_or(0, |d| d.as_micros() as u64),
            aborted = self.aborted,
            cut = self.cut.unwrap_or(""),
            authz_rule = self.denial.as_ref().map_or("", |d| &d.rule),
            authz_reason = self.denial.as_ref().map_or("", |d| &d.reason),
            "request"
        );
    }
}

/// `addr` as it displays, written into `buf` without allocating (a socket address fits).
fn shown<'b>(buf: &'b mut [u8; 64], addr: &SocketAddr) -> &'b str {
    if let SocketAddr::V4(v4) = addr {
        // The common case by hand: `Display` for an IPv4 address is padding-aware and costs
        // about as much as the rest of the line.
        let [a, b, c, d] = v4.ip().octets();
        let mut len = 0;
        let mut digits = itoa::Buffer::new();
        for (sep, n) in [
            ("", a.into()),
            (".", b.into()),
            (".", c.into()),
            (".", d.into()),
            (":", v4.port()),
        ] {
            for part in [sep, digits.format(n)] {
                buf[len..len + part.len()].copy_from_slice(part.as_bytes());
                len += part.len();
            }
        }
        return std::str::from_utf8(&buf[..len]).unwrap_or("");
    }
    use std::io::Write as _;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let len = match write!(cursor, "{addr}") {
        Ok(()) => cursor.position() as usize,
        Err(_) => 0,
    };
    std::str::from_utf8(&buf[..len]).unwrap_or("")
}

impl AccessLog {
    /// The value of access log variable `name` (see [`crate::access_format::VARIABLES`]).
    fn variable(&self, name: &str, out: &mut String) -> bool {
        use std::fmt::Write as _;
        let ms = |d: Duration| d.as_millis().to_string();
        let id = &self.subject;
        let (api, stage) = match &self.api_stage {
            Some((a, s)) => (&**a, &**s),
            None => ("", ""),
        };
        let value: String = match name {
            "requestId" | "extendedRequestId" => self.request_id.to_str().unwrap_or("").into(),
            "requestTime" => crate::access_format::clf_time(self.wall_start()),
            "requestTimeEpoch" => self
                .wall_start()
                .duration_since(std::time::UNIX_EPOCH)
                .map(ms)
                .unwrap_or_default(),
            "httpMethod" => self.method.as_str().into(),
            "resourcePath" => self
                .route
                .as_deref()
                .and_then(|r| r.split_once(' '))
                .map_or("", |(_, p)| p)
                .into(),
            "path" => self.uri.path().into(),
            "protocol" => format!("{:?}", self.version),
            "status" => self.status.to_string(),
            "responseLength" => self.bytes_out.to_string(),
            "responseLatency" => ms(self.start.elapsed()),
            "integrationLatency" | "integration.latency" => {
                self.upstream_latency.map(ms).unwrap_or_default()
            }
            "integration.status" | "integrationStatus" => match (self.upstream_latency, self.error)
            {
                (Some(_), None) => self.status.to_string(),
                _ => String::new(),
            },
            "domainName" => self.domain.to_string(),
            "stage" => stage.into(),
            "apiId" => api.into(),
            "identity.sourceIp" => self.client.ip().to_string(),
            "identity.clientCert.subjectDN" => id.subject.clone(),
            "identity.clientCert.issuerDN" => id.issuer.clone(),
            "identity.clientCert.serialNumber" => id.serial.clone(),
            "identity.clientCert.validity.notBefore" => {
                crate::tls::identity::validity_text(id.not_before)
            }
            "identity.clientCert.validity.notAfter" => {
                crate::tls::identity::validity_text(id.not_after)
            }
            "error.message" => self.error_message.unwrap_or("").into(),
            "error.responseType" => self.error.unwrap_or("").into(),
            "authorize.error" => self.denial.as_ref().map_or("", |d| &d.reason).into(),
            _ => return false,
        };
        let _ = write!(out, "{value}");
        true
    }

    /// When the request started, on the wall clock.
    fn wall_start(&self) -> std::time::SystemTime {
        std::time::SystemTime::now() - self.start.elapsed()
    }

    fn record(&self) {
        let mut cache = self.cache.handles.lock().unwrap_or_else(|p| p.into_inner());
        let hit = cache.as_ref().is_some_and(|c| {
            c.status == self.status
                && Arc::ptr_eq(&c.domain, &self.domain)
                && match (&c.route, &self.route) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    (None, None) => true,
                    _ => false,
                }
        });
        if !hit {
            *cache = Some(self.handles());
        }
        if let Some(h) = cache.as_ref() {
            h.requests.inc();
            h.duration.observe(self.start.elapsed().as_secs_f64());
            h.bytes_out.inc_by(self.bytes_out);
            h.bytes_in.inc_by(self.body.bytes());
        }
    }

    fn handles(&self) -> MetricHandles {
        use crate::metrics::{DomainLabels, RequestLabels, RouteLabels};
        let empty: Arc<str> = Arc::from("");
        let (api, stage) = self
            .api_stage
            .clone()
            .unwrap_or_else(|| (empty.clone(), empty.clone()));
        let route = self.route.clone().unwrap_or(empty);
        let m = &self.cache.metrics;
        let d = DomainLabels {
            domain: self.domain.clone(),
        };
        MetricHandles {
            domain: self.domain.clone(),
            route: self.route.clone(),
            status: self.status,
            requests: m.requests.get_or_create_owned(&RequestLabels {
                domain: self.domain.clone(),
                api: api.clone(),
                stage: stage.clone(),
                route: route.clone(),
                status: self.status,
            }),
            duration: m.request_duration.get_or_create_owned(&RouteLabels {
                domain: self.domain.clone(),
                api,
                stage,
                route,
            }),
            bytes_out: m.bytes_out.get_or_create_owned(&d),
            bytes_in: m.bytes_in.get_or_create_owned(&d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_address_is_shown_as_it_displays() {
        for addr in [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.1.2.3:4567",
            "127.0.0.1:80",
            "[::1]:8443",
            "[2001:db8::17]:1",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            let mut buf = [0u8; 64];
            assert_eq!(shown(&mut buf, &addr), addr.to_string());
        }
    }

    /// What a writer got, shared with the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    fn record(subject: &str, format: Option<&str>) -> AccessLog {
        let mut identity = crate::tls::ClientIdentity::anonymous();
        identity.subject = subject.into();
        AccessLog {
            request_id: http::HeaderValue::from_static("3f1c-id"),
            client: "[::1]:50123".parse().unwrap(),
            subject: Arc::new(identity),
            domain: "api.example".into(),
            method: http::Method::PATCH,
            uri: "/orders/%7Bx%7D?q=%221%22".parse().unwrap(),
            route: Some("PATCH /orders/{id}".into()),
            api_stage: Some(("shop".into(), "prod".into())),
            upstream: Some("10.0.0.7:8443".parse().unwrap()),
            status: 403,
            error: Some("ACCESS_DENIED"),
            side: Some(crate::error::Side::Downstream),
            bytes_out: 82,
            start: Instant::now(),
            upstream_latency: Some(Duration::from_micros(1234)),
            aborted: true,
            cut: Some("client_stalled"),
            in_flight: None,
            body: Arc::default(),
            lease: None,
            connection: None,
            cache: Arc::new(MetricCache::new(
                Arc::new(crate::metrics::Metrics::new()),
                "api.example",
            )),
            version: http::Version::HTTP_11,
            format: format.map(|f| Arc::new(crate::access_format::AccessFormat::parse(f).unwrap())),
            error_message: None,
            denial: Some(Box::new(crate::error::Denial {
                rule: "partners.deny[0]".into(),
                reason: "serial \"1f\" is denied\nby\\rule".into(),
                explicit: true,
            })),
        }
    }

    /// The line minus what depends on the moment: the timestamp and the latency.
    fn steady(line: &str) -> String {
        line.split([' ', ','])
            .filter(|f| !f.contains("latency_us") || f.contains("upstream"))
            .collect::<Vec<_>>()
            .join(" ")
            .split_once(if line.starts_with('{') {
                "\"level\""
            } else {
                "  INFO"
            })
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn the_direct_access_line_is_the_line_tracing_writes() {
        use tracing_subscriber::layer::SubscriberExt as _;
        for format in [LogFormat::Text, LogFormat::Json] {
            for (subject, custom) in [
                ("CN=a \"quoted\",O=Ex\\, Inc.", None),
                (
                    "CN=plain",
                    Some("$context.requestId \"$context.status\" $context.path"),
                ),
            ] {
                let log = record(subject, custom);
                let captured = Captured::default();
                let subscriber = tracing_subscriber::registry()
                    .with(EnvFilter::new("info"))
                    .with(fmt_layer(format, captured.clone(), false));
                tracing::subscriber::with_default(subscriber, || log.emit_through_tracing());
                let through_tracing =
                    String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
                let mut direct = String::new();
                log.write_line(&mut direct, format == LogFormat::Json);
                assert!(direct.ends_with('\n'), "{direct}");
                assert_eq!(
                    steady(&direct),
                    steady(&through_tracing),
                    "{format:?}\ndirect:  {direct}tracing: {through_tracing}"
                );
                assert!(!steady(&direct).is_empty());
            }
        }
    }
}
