//! Prometheus text exposition (the broker's `/metrics`, Envoy's
//! `/stats/prometheus`), as tests read it.

/// The exposition served at `url`.
///
/// # Panics
/// When `url` does not answer.
pub async fn scrape(url: &str) -> String {
    reqwest::get(url)
        .await
        .expect("metrics answered")
        .text()
        .await
        .expect("metrics text")
}

/// `mcp_broker_upstream_handshakes_total` for `server` (both results),
/// from the broker's `/metrics` at `url`.
///
/// # Panics
/// When `url` does not answer.
pub async fn upstream_handshakes(url: &str, server: &str) -> u64 {
    let text = scrape(url).await;
    sum(
        &text,
        "mcp_broker_upstream_handshakes_total",
        &[("server", server)],
    )
}

/// The sum of `name`'s samples in `text` whose labels include every pair of
/// `labels` (`key="value"`); 0 when there are none.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (series, value) = rest.rsplit_once(' ')?;
            let series_labels = match series.as_bytes().first() {
                None => "",
                Some(b'{') => series,
                Some(_) => return None, // another metric whose name starts with `name`
            };
            labels
                .iter()
                .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .map(|v| v as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::sum;

    const TEXT: &str = "# TYPE calls_total counter\n\
        calls_total{server=\"a\",outcome=\"ok\"} 2\n\
        calls_total{server=\"b\",outcome=\"ok\"} 3\n\
        calls_total_other{server=\"a\"} 7\n\
        plain 4\n";

    #[test]
    fn sums_the_samples_whose_labels_match() {
        assert_eq!(sum(TEXT, "calls_total", &[("server", "a")]), 2);
        assert_eq!(sum(TEXT, "calls_total", &[("outcome", "ok")]), 5);
        assert_eq!(sum(TEXT, "calls_total", &[("server", "c")]), 0);
        assert_eq!(sum(TEXT, "plain", &[]), 4);
    }
}
