//! The shared store: buckets and quotas in Redis, updated atomically by one script call per
//! request, every call bounded; while Redis is unreachable the caller decides locally.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::Throttle;

/// How long the store is left alone after a failed call before it is tried again.
pub const STORE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Check every bucket (KEYS[1..n]) and the quota (KEYS[n+1], if given); take from all only
/// when all allow. Time is Redis's own, so replicas agree on it. Returns {0} (admitted),
/// {1, wait_ms, bucket} (throttled) or {2} (quota exceeded).
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local tokens = {}
for i = 1, n do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local h = redis.call('HMGET', KEYS[i], 't', 'ts')
  local tk = tonumber(h[1])
  local ts = tonumber(h[2])
  if tk == nil or ts == nil then
    tk = burst
    ts = now
  end
  if now > ts then
    tk = math.min(burst, tk + (now - ts) * rate / 1000)
  end
  if tk < 1 then
    local wait = 3600000
    if rate > 0 then wait = math.ceil((1 - tk) * 1000 / rate) end
    return {1, wait, i}
  end
  tokens[i] = tk
end
if #KEYS > n then
  local limit = tonumber(ARGV[2 * n + 2])
  local used = tonumber(redis.call('GET', KEYS[n + 1]) or '0')
  if used >= limit then return {2} end
  redis.call('INCR', KEYS[n + 1])
  redis.call('EXPIREAT', KEYS[n + 1], tonumber(ARGV[2 * n + 3]))
end
for i = 1, n do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', KEYS[i], 't', tostring(tokens[i] - 1), 'ts', now)
  local ttl = 604800000
  if rate > 0 then ttl = math.min(ttl, math.ceil(burst * 1000 / rate) + 1000) end
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return {0}
";

/// What the store decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every bucket had a token and the quota room; all were taken.
    Admitted,
    /// Bucket `index` (of those passed) is empty: retry after `wait` seconds.
    Throttled {
        /// Position of the empty bucket.
        index: usize,
        /// Whole seconds until it has a token.
        wait: u32,
    },
    /// The quota is used up.
    QuotaExceeded,
}

/// One quota check: the counter's key, its limit, and when its period ends (Unix seconds).
#[derive(Debug)]
pub struct QuotaCheck {
    /// Store key, period start included.
    pub key: String,
    /// Requests allowed.
    pub limit: u64,
    /// End of the period.
    pub expires_at: i64,
}

/// The Redis store of one `[rate_limit] store` URL; kept across reloads while the URL stays.
pub struct RedisStore {
    url: String,
    timeout: Duration,
    script: redis::Script,
    conn: OnceLock<Option<ConnectionManager>>,
    /// Milliseconds since `epoch` before which calls are not tried.
    down_until: AtomicU64,
    /// Whether the last call failed (to log transitions once).
    failing: AtomicBool,
    epoch: Instant,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `url` (not connected until first used).
    pub fn new(url: &str, timeout: Duration) -> RedisStore {
        RedisStore {
            url: url.to_owned(),
            timeout,
            script: redis::Script::new(SCRIPT),
            conn: OnceLock::new(),
            down_until: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            epoch: Instant::now(),
        }
    }

    /// Whether this store talks to `url` with `timeout`.
    pub fn is_for(&self, url: &str, timeout: Duration) -> bool {
        self.url == url && self.timeout == timeout
    }

    fn connection(&self) -> Option<ConnectionManager> {
        self.conn
            .get_or_init(|| {
                let client = redis::Client::open(self.url.as_str()).ok()?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(STORE_RETRY_AFTER);
                ConnectionManager::new_lazy_with_config(client, config).ok()
            })
            .clone()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether calls are currently skipped after a failure.
    pub fn is_down(&self) -> bool {
        self.now_ms() < self.down_until.load(Ordering::Relaxed)
    }

    /// Check and take from `buckets` (store key and settings) and `quota` in one atomic call.
    /// `Err` says why the store could not decide (then it is left alone for a while).
    pub async fn admit(
        &self,
        buckets: &[(&str, Throttle)],
        quota: Option<&QuotaCheck>,
    ) -> Result<Verdict, String> {
        if self.is_down() {
            return Err("the rate-limit store failed recently".into());
        }
        let result = tokio::time::timeout(self.timeout, self.call(buckets, quota)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        };
        match &result {
            Ok(_) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate-limit store reachable again: limits shared again");
                }
            }
            Err(e) => {
                self.down_until.store(
                    self.now_ms() + STORE_RETRY_AFTER.as_millis() as u64,
                    Ordering::Relaxed,
                );
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "rate-limit store unreachable: deciding locally");
                }
            }
        }
        result
    }

    async fn call(
        &self,
        buckets: &[(&str, Throttle)],
        quota: Option<&QuotaCheck>,
    ) -> Result<Verdict, String> {
        let mut conn = self
            .connection()
            .ok_or_else(|| "cannot create a Redis client".to_owned())?;
        let mut inv = self.script.prepare_invoke();
        inv.arg(buckets.len());
        for (key, t) in buckets {
            inv.key(*key).arg(t.rate).arg(t.burst);
        }
        if let Some(q) = quota {
            inv.key(q.key.as_str()).arg(q.limit).arg(q.expires_at);
        }
        let reply: Vec<i64> = inv
            .invoke_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        match reply.as_slice() {
            [0, ..] => Ok(Verdict::Admitted),
            [1, wait_ms, index, ..] => Ok(Verdict::Throttled {
                index: (*index as usize).saturating_sub(1),
                wait: u32::try_from((*wait_ms + 999) / 1000)
                    .unwrap_or(u32::MAX)
                    .clamp(1, super::bucket::MAX_RETRY_AFTER_SECS),
            }),
            [2, ..] => Ok(Verdict::QuotaExceeded),
            other => Err(format!(
                "unexpected reply from the rate-limit script: {other:?}"
            )),
        }
    }
}
