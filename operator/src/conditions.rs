//! Status conditions: the `Ready` condition every resource carries, its
//! reasons, and how a new observation updates the previous one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The condition type every resource carries.
pub const READY: &str = "Ready";

/// Why a resource is, or is not, ready. Each reason's message tells a
/// human what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Everything is in place.
    Ready,
    /// Waiting on something outside the resource (an extension, the
    /// broker's discovery, the server's health).
    NotReady,
    /// `spec.state: Disabled`.
    Disabled,
    /// Another registration on the same gateway has the prefix.
    PrefixConflict,
    /// The referenced Gateway, listener, HTTPRoute or Service is missing or
    /// unusable.
    InvalidTarget,
    /// A cross-namespace reference lacks its ReferenceGrant.
    ReferenceGrantRequired,
    /// The credential Secret or key is missing or unusable.
    InvalidCredential,
    /// An older extension already serves the same listener.
    Conflict,
    /// The broker is deployed but has not reported its discovery yet.
    BrokerNotReady,
    /// A virtual server lists tools the gateway does not expose.
    UnknownTools,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Ready => "Ready",
            Reason::NotReady => "NotReady",
            Reason::Disabled => "Disabled",
            Reason::PrefixConflict => "PrefixConflict",
            Reason::InvalidTarget => "InvalidTarget",
            Reason::ReferenceGrantRequired => "ReferenceGrantRequired",
            Reason::InvalidCredential => "InvalidCredential",
            Reason::Conflict => "Conflict",
            Reason::BrokerNotReady => "BrokerNotReady",
            Reason::UnknownTools => "UnknownTools",
        }
    }
}

/// An observation of readiness: what the `Ready` condition should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub reason: Reason,
    pub message: String,
}

impl Readiness {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Readiness {
            reason,
            message: message.into(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.reason == Reason::Ready
    }

    /// The `Ready` condition for this observation. `lastTransitionTime`
    /// is kept from `previous` when the status did not change, as the
    /// Kubernetes API conventions ask.
    pub fn condition(
        &self,
        generation: Option<i64>,
        previous: &[Condition],
        now: Timestamp,
    ) -> Condition {
        let status = if self.is_ready() { "True" } else { "False" };
        let last_transition_time = previous
            .iter()
            .find(|c| c.type_ == READY && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(now));
        Condition {
            type_: READY.to_owned(),
            status: status.to_owned(),
            reason: self.reason.as_str().to_owned(),
            // The API limits messages to 32 KiB; ours are far shorter, but
            // a long list of names must not make the status unwritable.
            message: truncate(&self.message, 4096),
            observed_generation: generation,
            last_transition_time,
        }
    }

    /// Whether going from `previous` to this observation is a transition
    /// worth an event: the status or the reason changed.
    pub fn is_transition(&self, previous: &[Condition]) -> bool {
        let status = if self.is_ready() { "True" } else { "False" };
        !previous
            .iter()
            .any(|c| c.type_ == READY && c.status == status && c.reason == self.reason.as_str())
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn the_transition_time_stays_while_the_status_stays() {
        let first = Readiness::new(Reason::NotReady, "waiting").condition(Some(1), &[], at(10));
        let second = Readiness::new(Reason::InvalidTarget, "gone").condition(
            Some(2),
            std::slice::from_ref(&first),
            at(20),
        );
        assert_eq!(second.last_transition_time, first.last_transition_time);
        assert_eq!(second.reason, "InvalidTarget");
        let third = Readiness::new(Reason::Ready, "ok").condition(Some(2), &[second], at(30));
        assert_eq!(third.last_transition_time, Time(at(30)));
        assert_eq!(third.status, "True");
    }

    #[test]
    fn a_new_reason_is_a_transition_but_a_new_message_is_not() {
        let previous = [Readiness::new(Reason::NotReady, "a").condition(None, &[], at(1))];
        assert!(!Readiness::new(Reason::NotReady, "b").is_transition(&previous));
        assert!(Readiness::new(Reason::PrefixConflict, "a").is_transition(&previous));
        assert!(Readiness::new(Reason::Ready, "a").is_transition(&[]));
    }
}
