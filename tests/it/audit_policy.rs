//! The audit policy `fix` writes is one an auditor accepts (CIS 3.2.2), for every version: the
//! template is evaluated the way the API server evaluates a policy (rules in order, the first
//! match decides; k8s.io/apiserver/pkg/audit/policy/checker.go).

use crate::conformance::builtins;
use kubeharden::profile::render_template;
use kubeharden::profile::version::Version;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    None,
    Metadata,
    Request,
    RequestResponse,
}

fn level(s: &str) -> Level {
    match s {
        "None" => Level::None,
        "Metadata" => Level::Metadata,
        "Request" => Level::Request,
        "RequestResponse" => Level::RequestResponse,
        other => panic!("unknown level {other}"),
    }
}

enum Req<'a> {
    /// verb, API group, resource, subresource
    Resource(&'a str, &'a str, &'a str, Option<&'a str>),
    /// a non-resource URL path (verb get)
    Path(&'a str),
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().expect("string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn rule_matches(rule: &Value, req: &Req) -> bool {
    let verbs = strings(&rule["verbs"]);
    let verb = match req {
        Req::Resource(v, ..) => *v,
        Req::Path(_) => "get",
    };
    if !verbs.is_empty() && !verbs.iter().any(|v| v == verb || v == "*") {
        return false;
    }
    let has_resources = rule["resources"].as_array().is_some_and(|a| !a.is_empty());
    let urls = strings(&rule["nonResourceURLs"]);
    match req {
        Req::Resource(_, group, resource, sub) => {
            if !urls.is_empty() {
                return false;
            }
            if !has_resources {
                return true;
            }
            rule["resources"]
                .as_array()
                .expect("resources")
                .iter()
                .any(|gr| {
                    let g = gr["group"].as_str().unwrap_or("");
                    if g != *group && g != "*" {
                        return false;
                    }
                    let names = strings(&gr["resources"]);
                    if names.is_empty() {
                        return true;
                    }
                    let full = match sub {
                        Some(s) => format!("{resource}/{s}"),
                        None => resource.to_string(),
                    };
                    names.iter().any(|n| {
                        n == "*"
                            || *n == full
                            || (sub.is_some() && *n == format!("{resource}/*"))
                            || (sub.is_some() && *n == format!("*/{}", sub.unwrap_or("")))
                    })
                })
        }
        Req::Path(path) => {
            if has_resources {
                return false;
            }
            if urls.is_empty() {
                return true;
            }
            urls.iter().any(|u| match u.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => u == path,
            })
        }
    }
}

fn evaluate(policy: &Value, req: &Req) -> Level {
    policy["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| rule_matches(r, req))
        .map_or(Level::None, |r| level(r["level"].as_str().expect("level")))
}

#[test]
fn the_audit_policy_template_logs_what_cis_asks_for_in_every_version() {
    let (registry, _, strict) = builtins();
    for minor in registry.versions.oldest..=registry.versions.newest {
        let v = Version { minor, patch: None };
        let text = render_template("audit-policy", v, registry, &strict.parameters)
            .unwrap_or_else(|e| panic!("1.{minor}: {e}"));
        let policy: Value = yaml_serde::from_str(&text).expect("YAML");
        assert_eq!(policy["kind"], "Policy");
        assert_eq!(policy["apiVersion"], "audit.k8s.io/v1", "1.{minor}");
        let at = |req: Req| evaluate(&policy, &req);
        // Secrets, configmaps and token reviews: metadata only, never bodies.
        for verb in [
            "get", "list", "watch", "create", "update", "patch", "delete",
        ] {
            for (group, resource) in [
                ("", "secrets"),
                ("", "configmaps"),
                ("authentication.k8s.io", "tokenreviews"),
            ] {
                assert_eq!(
                    at(Req::Resource(verb, group, resource, None)),
                    Level::Metadata,
                    "1.{minor}: {verb} {resource}"
                );
            }
        }
        // Every exec, port-forward and proxy request is logged.
        for (verb, group, resource, sub) in [
            ("create", "", "pods", "exec"),
            ("get", "", "pods", "exec"),
            ("create", "", "pods", "attach"),
            ("create", "", "pods", "portforward"),
            ("get", "", "pods", "proxy"),
            ("get", "", "services", "proxy"),
        ] {
            assert!(
                at(Req::Resource(verb, group, resource, Some(sub))) >= Level::Metadata,
                "1.{minor}: {verb} {resource}/{sub}"
            );
        }
        // Changes to pods and deployments are logged.
        for verb in ["create", "update", "patch", "delete", "deletecollection"] {
            for (group, resource) in [("", "pods"), ("apps", "deployments")] {
                assert!(
                    at(Req::Resource(verb, group, resource, None)) >= Level::Metadata,
                    "1.{minor}: {verb} {resource}"
                );
            }
        }
        // Health-check noise is left out.
        for path in ["/healthz", "/livez", "/readyz", "/readyz/etcd"] {
            assert_eq!(at(Req::Path(path)), Level::None, "1.{minor}: {path}");
        }
    }
}

#[test]
fn the_evaluator_rejects_a_policy_that_logs_nothing() {
    // The checks above must be able to fail: a policy that logs nothing fails them.
    let policy: Value = yaml_serde::from_str(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n",
    )
    .expect("YAML");
    assert_eq!(
        evaluate(&policy, &Req::Resource("get", "", "secrets", None)),
        Level::None
    );
    let bodies: Value = yaml_serde::from_str(
        "rules:\n  - level: RequestResponse\n    resources:\n      - group: \"\"\n        resources: [\"secrets\"]\n  - level: Metadata\n",
    )
    .expect("YAML");
    assert_eq!(
        evaluate(&bodies, &Req::Resource("get", "", "secrets", None)),
        Level::RequestResponse
    );
    assert_eq!(
        evaluate(&bodies, &Req::Resource("get", "", "pods", Some("exec"))),
        Level::Metadata
    );
}
