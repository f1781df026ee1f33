//! Label selectors as `metav1.LabelSelectorAsSelector` builds them, so pool membership matches
//! what `oc` and the machine-config operator compute.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq)]
enum Requirement {
    /// The label has one of the values.
    In(String, Vec<String>),
    /// The label is absent or has none of the values.
    NotIn(String, Vec<String>),
    /// The label is present.
    Exists(String),
    /// The label is absent.
    DoesNotExist(String),
}

/// A compiled label selector.
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    /// `None` for no selector at all (`nodeSelector` absent), which selects nothing; otherwise
    /// every requirement must hold, and no requirement (`{}`) selects everything.
    requirements: Option<Vec<Requirement>>,
}

/// Why a selector cannot be used, as `LabelSelectorAsSelector` would refuse it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// An operator other than In, NotIn, Exists, DoesNotExist.
    #[error("{0:?} is not a valid label selector operator")]
    UnknownOperator(String),
    /// In or NotIn without values.
    #[error("for 'in', 'notin' operators, values set can't be empty (key {0})")]
    EmptyValues(String),
    /// Exists or DoesNotExist with values.
    #[error("values set must be empty for exists and does not exist (key {0})")]
    UnexpectedValues(String),
}

impl Selector {
    /// The selector of a pool without `nodeSelector`, or with one that cannot be used: no node.
    pub fn nothing() -> Selector {
        Selector { requirements: None }
    }

    /// Compiles `selector`; `None` selects nothing, as in client-go.
    pub fn compile(selector: Option<&LabelSelector>) -> Result<Selector, SelectorError> {
        let Some(s) = selector else {
            return Ok(Selector::nothing());
        };
        let mut reqs = Vec::new();
        for (k, v) in s.match_labels.iter().flatten() {
            reqs.push(Requirement::In(k.clone(), vec![v.clone()]));
        }
        for e in s.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            let key = e.key.clone();
            let req = match e.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(SelectorError::EmptyValues(key));
                }
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(SelectorError::UnexpectedValues(key));
                }
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => return Err(SelectorError::UnknownOperator(other.to_owned())),
            };
            reqs.push(req);
        }
        Ok(Selector {
            requirements: Some(reqs),
        })
    }

    /// Whether a node with `labels` is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let Some(reqs) = &self.requirements else {
            return false;
        };
        reqs.iter().all(|r| match r {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn absent_selects_nothing_and_empty_selects_everything() {
        let l = labels(&[("a", "b")]);
        assert!(!Selector::compile(None).unwrap().matches(&l));
        assert!(
            Selector::compile(Some(&LabelSelector::default()))
                .unwrap()
                .matches(&l)
        );
    }

    #[test]
    fn match_labels_and_expressions_table() {
        let sel = LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "node-role.kubernetes.io/worker".to_string(),
                String::new(),
            )])),
            match_expressions: Some(vec![
                expr("ci-workload", "In", &["builds", "tests"]),
                expr("zone", "NotIn", &["bad"]),
                expr("gpu", "Exists", &[]),
                expr("tainted", "DoesNotExist", &[]),
            ]),
        };
        let s = Selector::compile(Some(&sel)).unwrap();
        let base = [
            ("node-role.kubernetes.io/worker", ""),
            ("ci-workload", "tests"),
            ("gpu", "1"),
        ];
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&base, true),
            (&[base[0], base[1]], false), // gpu missing
            (&[base[0], ("ci-workload", "other"), base[2]], false), // not in set
            (&[base[0], base[1], base[2], ("zone", "bad")], false),
            (&[base[0], base[1], base[2], ("zone", "good")], true),
            (&[base[0], base[1], base[2], ("tainted", "")], false),
            (&[base[1], base[2]], false), // matchLabels missing
        ];
        for (l, want) in cases {
            assert_eq!(s.matches(&labels(l)), *want, "{l:?}");
        }
    }

    #[test]
    fn invalid_selectors_are_refused() {
        for (e, want) in [
            (expr("a", "In", &[]), SelectorError::EmptyValues("a".into())),
            (
                expr("a", "Exists", &["x"]),
                SelectorError::UnexpectedValues("a".into()),
            ),
            (
                expr("a", "Gt", &["1"]),
                SelectorError::UnknownOperator("Gt".into()),
            ),
        ] {
            let sel = LabelSelector {
                match_expressions: Some(vec![e]),
                ..Default::default()
            };
            assert_eq!(Selector::compile(Some(&sel)), Err(want));
        }
    }
}
