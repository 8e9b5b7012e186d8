//! A Prometheus text parser, so metric assertions read samples by name and labels.

use std::collections::BTreeMap;

/// One sample of a Prometheus text exposition.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Metric name, with any `_total` suffix.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// Parse the samples of a Prometheus / OpenMetrics text exposition.
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, labels, rest) = match line.find('{') {
            Some(open) => {
                let close = line.rfind('}').expect("unclosed label set");
                (&line[..open], &line[open + 1..close], &line[close + 1..])
            }
            None => {
                let sp = line.find(' ').expect("sample without a value");
                (&line[..sp], "", &line[sp..])
            }
        };
        let mut map = BTreeMap::new();
        let mut rest_labels = labels;
        while let Some(eq) = rest_labels.find("=\"") {
            let key = rest_labels[..eq].trim_start_matches(',').trim().to_owned();
            let after = &rest_labels[eq + 2..];
            // Values are escaped; find the closing quote that is not escaped.
            let mut end = 0;
            let bytes = after.as_bytes();
            while end < bytes.len() {
                if bytes[end] == b'\\' {
                    end += 2;
                    continue;
                }
                if bytes[end] == b'"' {
                    break;
                }
                end += 1;
            }
            map.insert(
                key,
                after[..end].replace("\\\"", "\"").replace("\\\\", "\\"),
            );
            rest_labels = &after[(end + 1).min(after.len())..];
        }
        let value = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        out.push(Sample {
            name: name.to_owned(),
            labels: map,
            value,
        });
    }
    out
}

/// The samples named `name` whose labels include every pair of `labels`.
pub fn samples<'a>(all: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    all.iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The sum of the samples named `name` with `labels` (0 when there are none).
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(&parse_metrics(text), name, labels)
        .iter()
        .map(|s| s.value)
        .sum()
}

/// The single sample named `name` with `labels`, if exactly one exists.
pub fn metric_one(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let all = parse_metrics(text);
    let found = samples(&all, name, labels);
    (found.len() == 1).then(|| found[0].value)
}
