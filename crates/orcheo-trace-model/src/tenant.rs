//! Tenants: the reserved names and the rule by which a span's attribute claims one.

/// The tenant of executions that name none, and of tokens that name none.
pub const DEFAULT_TENANT: &str = "default";

/// The tenant of an execution known only from spans that do not say whose it is (a node seen
/// before its run's root): only administrators see it until the root says. No caller may claim
/// it.
pub const UNASSIGNED_TENANT: &str = "__unassigned";

/// The longest tenant name: what the metadata store keeps.
pub const MAX_TENANT_LEN: usize = 128;

/// The tenant a span's `orcheo.execution.tenant` attribute claims, when whoever sent the span
/// may speak for any tenant (a trusted relay, a local sender, a trace store read back): none for
/// an empty name, the reserved unassigned tenant, or a name longer than a tenant can be.
pub fn claimed(attribute: Option<&str>) -> Option<&str> {
    attribute.filter(|t| !t.is_empty() && t.len() <= MAX_TENANT_LEN && *t != UNASSIGNED_TENANT)
}

#[cfg(test)]
mod tests {
    use super::{MAX_TENANT_LEN, UNASSIGNED_TENANT, claimed};

    #[test]
    fn an_attribute_claims_a_tenant_unless_it_is_empty_reserved_or_too_long() {
        assert_eq!(claimed(Some("acme")), Some("acme"));
        assert_eq!(claimed(None), None);
        assert_eq!(claimed(Some("")), None);
        assert_eq!(claimed(Some(UNASSIGNED_TENANT)), None);
        let longest = "t".repeat(MAX_TENANT_LEN);
        assert_eq!(claimed(Some(&longest)), Some(longest.as_str()));
        assert_eq!(claimed(Some(&"t".repeat(MAX_TENANT_LEN + 1))), None);
    }
}
