//! The anomalies of one normalization, capped per kind as they are found: past the cap a problem
//! is only counted, and its description is never written. A trace whose every span is skewed
//! against its parent costs one counter increment per span, not one formatted message.

use orcheo_trace_model::{Anomaly, AnomalyKind, SpanId};

use super::MAX_ANOMALIES_PER_KIND;

pub(crate) struct Anomalies {
    list: Vec<Anomaly>,
    /// Timing anomalies, listed after all the others.
    timing: Vec<Anomaly>,
    /// How many of each kind were found, listed or not, by the kind's place in
    /// [`AnomalyKind::ALL`].
    counts: [usize; AnomalyKind::ALL.len()],
}

impl Anomalies {
    /// Starts from anomalies found earlier (by a decoder), which count against the cap too.
    pub(crate) fn new(earlier: Vec<Anomaly>) -> Self {
        let mut anomalies = Self {
            list: Vec::with_capacity(earlier.len()),
            timing: Vec::new(),
            counts: [0; AnomalyKind::ALL.len()],
        };
        for mut a in earlier {
            let (kind, undescribed) = (a.kind, std::mem::take(&mut a.undescribed));
            if anomalies.count(kind) {
                anomalies.list.push(a);
            }
            anomalies.counts[kind as usize] += undescribed;
        }
        anomalies
    }

    /// Counts one anomaly of `kind`; true while it is still to be listed.
    fn count(&mut self, kind: AnomalyKind) -> bool {
        let seen = &mut self.counts[kind as usize];
        *seen += 1;
        *seen <= MAX_ANOMALIES_PER_KIND
    }

    /// Reports an anomaly; `detail` is called only when it will be listed. Timing anomalies are
    /// listed after all others (see [`is_timing`]).
    pub(crate) fn report<D: Into<String>>(
        &mut self,
        kind: AnomalyKind,
        span_id: Option<SpanId>,
        detail: impl FnOnce() -> D,
    ) {
        if self.count(kind) {
            let list = if is_timing(kind) {
                &mut self.timing
            } else {
                &mut self.list
            };
            list.push(Anomaly::new(kind, span_id, detail()));
        }
    }

    /// The listed anomalies in the order found (timing anomalies last), then one entry per kind
    /// that went over the cap, saying how many more there were.
    pub(crate) fn finish(mut self) -> Vec<Anomaly> {
        self.list.append(&mut self.timing);
        for (kind, count) in AnomalyKind::ALL.into_iter().zip(self.counts) {
            if count > MAX_ANOMALIES_PER_KIND {
                self.list.push(Anomaly::new(
                    kind,
                    None,
                    format!(
                        "{} more of this kind not listed",
                        count - MAX_ANOMALIES_PER_KIND
                    ),
                ));
            }
        }
        self.list
    }
}

/// A span's times checked against its own and its parent's: found while the nodes are built,
/// and listed after every other anomaly, as a pass of their own over the finished tree found them.
fn is_timing(kind: AnomalyKind) -> bool {
    matches!(
        kind,
        AnomalyKind::NegativeDuration | AnomalyKind::ClockSkew | AnomalyKind::EndsAfterParent
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_details_are_not_written_and_the_rest_is_counted() {
        let mut anomalies = Anomalies::new(vec![Anomaly::new(AnomalyKind::Orphan, None, "early")]);
        let mut written = 0;
        for _ in 0..MAX_ANOMALIES_PER_KIND + 7 {
            anomalies.report(AnomalyKind::Orphan, None, || {
                written += 1;
                "later".to_owned()
            });
        }
        anomalies.report(AnomalyKind::ClockSkew, None, || "skew".to_owned());
        anomalies.report(AnomalyKind::Cycle, None, || "cycle".to_owned());
        assert_eq!(written, MAX_ANOMALIES_PER_KIND - 1);
        let list = anomalies.finish();
        assert_eq!(list.len(), MAX_ANOMALIES_PER_KIND + 3);
        assert_eq!(list[0].detail, "early");
        assert_eq!(list[MAX_ANOMALIES_PER_KIND].kind, AnomalyKind::Cycle);
        assert_eq!(
            list[MAX_ANOMALIES_PER_KIND + 1].kind,
            AnomalyKind::ClockSkew
        );
        let summary = list.last().unwrap();
        assert_eq!(
            (summary.kind, summary.detail.as_str()),
            (AnomalyKind::Orphan, "8 more of this kind not listed")
        );
    }
}
