//! Claude Code: the user settings file (`$CLAUDE_CONFIG_DIR/settings.json`, default
//! `~/.claude/settings.json`). Its `env` object is applied to every session Claude Code
//! starts, above the login it holds: `ANTHROPIC_BASE_URL` sends requests to the gateway's
//! Anthropic route and `ANTHROPIC_AUTH_TOKEN` is sent as `Authorization: Bearer` (it takes
//! precedence over the claude.ai login and needs no approval prompt, unlike
//! `ANTHROPIC_API_KEY`). Also the JSON helpers opencode's file shares.

use serde_json::{Map, Value};

use crate::{Endpoint, Settings};

pub(crate) const BASE_URL: &str = "env.ANTHROPIC_BASE_URL";
pub(crate) const TOKEN: &str = "env.ANTHROPIC_AUTH_TOKEN";

pub(crate) fn desired(endpoint: &Endpoint) -> Settings {
    Settings::from([
        (
            BASE_URL.to_owned(),
            Some(format!("{}/anthropic", endpoint.base_url)),
        ),
        (TOKEN.to_owned(), Some(endpoint.key.expose().to_owned())),
    ])
}

pub(crate) fn pointing(bytes: &[u8]) -> Result<(Option<String>, Option<String>), String> {
    let v = json_values(
        bytes,
        &Settings::from([(BASE_URL.to_owned(), None), (TOKEN.to_owned(), None)]),
    )?;
    Ok((
        v.get(BASE_URL).cloned().flatten(),
        v.get(TOKEN).cloned().flatten(),
    ))
}

/// The document as a JSON object; an empty or blank file counts as `{}`.
fn parse(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("the top level is not a JSON object".to_owned()),
        // The position only: serde's message could quote a value (a credential).
        Err(e) => Err(format!(
            "not valid JSON: {} at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Eof => "unexpected end",
                _ => "syntax error",
            },
            e.line(),
            e.column()
        )),
    }
}

/// String values at dotted paths (`None`: absent or not a string).
pub(crate) fn json_values(bytes: &[u8], paths: &Settings) -> Result<Settings, String> {
    let doc = Value::Object(parse(bytes)?);
    Ok(paths
        .keys()
        .map(|p| {
            let mut cur = &doc;
            for seg in p.split('.') {
                match cur.get(seg) {
                    Some(next) => cur = next,
                    None => return (p.clone(), None),
                }
            }
            (p.clone(), cur.as_str().map(str::to_owned))
        })
        .collect())
}

/// Sets (or, for `None`, removes) each dotted path, creating objects on the way and removing
/// objects a removal leaves empty; every other key stays. `schema`: a `$schema` to add to a
/// new file.
pub(crate) fn json_apply(
    bytes: Option<&[u8]>,
    changes: &Settings,
    schema: Option<&str>,
) -> Result<Vec<u8>, String> {
    let mut doc = if let Some(b) = bytes {
        parse(b)?
    } else {
        let mut m = Map::new();
        if let Some(s) = schema {
            m.insert("$schema".to_owned(), Value::String(s.to_owned()));
        }
        m
    };
    for (path, value) in changes {
        let segs: Vec<&str> = path.split('.').collect();
        match value {
            Some(v) => set(&mut doc, &segs, v)?,
            None => {
                remove(&mut doc, &segs);
            }
        }
    }
    let mut out = serde_json::to_vec_pretty(&Value::Object(doc)).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(out)
}

fn set(map: &mut Map<String, Value>, segs: &[&str], value: &str) -> Result<(), String> {
    let (last, parents) = segs.split_last().ok_or("empty path")?;
    let mut cur = map;
    for seg in parents {
        let next = cur
            .entry((*seg).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        cur = next
            .as_object_mut()
            .ok_or_else(|| format!("\"{seg}\" is not an object"))?;
    }
    cur.insert((*last).to_owned(), Value::String(value.to_owned()));
    Ok(())
}

/// Removes the path; returns whether the map is empty afterwards.
fn remove(map: &mut Map<String, Value>, segs: &[&str]) -> bool {
    match segs {
        [] => {}
        [last] => {
            map.remove(*last);
        }
        [first, rest @ ..] => {
            if let Some(Value::Object(child)) = map.get_mut(*first)
                && remove(child, rest)
            {
                map.remove(*first);
            }
        }
    }
    map.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_other_keys_and_removal_cleans_up() {
        let before = br#"{"model":"opus","env":{"FOO":"1"},"permissions":{"allow":["Bash"]}}"#;
        let set = Settings::from([
            (
                BASE_URL.to_owned(),
                Some("http://127.0.0.1:1/anthropic".to_owned()),
            ),
            (TOKEN.to_owned(), Some("rota_k".to_owned())),
        ]);
        let after = json_apply(Some(before), &set, None).unwrap();
        let v: Value = serde_json::from_slice(&after).unwrap();
        assert_eq!(v["model"], "opus");
        assert_eq!(v["env"]["FOO"], "1");
        assert_eq!(v["permissions"]["allow"][0], "Bash");
        assert_eq!(v["env"]["ANTHROPIC_AUTH_TOKEN"], "rota_k");
        let unset = Settings::from([(BASE_URL.to_owned(), None), (TOKEN.to_owned(), None)]);
        let back: Value =
            serde_json::from_slice(&json_apply(Some(&after), &unset, None).unwrap()).unwrap();
        assert_eq!(back, serde_json::from_slice::<Value>(before).unwrap());
        // A removal that empties `env` removes it.
        let only = json_apply(None, &set, None).unwrap();
        let empty: Value =
            serde_json::from_slice(&json_apply(Some(&only), &unset, None).unwrap()).unwrap();
        assert_eq!(empty, serde_json::json!({}));
    }

    #[test]
    fn refuses_what_does_not_parse_without_quoting_it() {
        let err = json_values(b"{\"env\": {\"X\": \"secret-value\"", &Settings::new()).unwrap_err();
        assert!(err.contains("line 1"), "{err}");
        assert!(!err.contains("secret-value"));
        assert!(json_values(b"[1]", &Settings::new()).is_err());
        assert!(json_values(b"", &Settings::new()).is_ok());
    }
}
