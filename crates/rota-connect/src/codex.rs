//! Codex CLI: `$CODEX_HOME/config.toml` (default `~/.codex/config.toml`). Codex picks the model
//! provider named by the top-level `model_provider` from the `[model_providers.<id>]` tables
//! (user tables extend the built-in `openai`). Rota adds its own provider `rota`:
//! `base_url` = the gateway's OpenAI route (Codex appends `/responses`), `wire_api =
//! "responses"` (the only wire API Codex accepts), and `experimental_bearer_token` = the local
//! key, sent as `Authorization: Bearer` (`env_key` would need the variable in every shell;
//! `requires_openai_auth` stays unset, false, so no ChatGPT login is asked for: the gateway
//! brings the account). Comments, order and every other key are kept (`toml_edit`).

use toml_edit::{DocumentMut, Item, Table, value};

use crate::{Endpoint, Settings};

pub(crate) const PROVIDER_ID: &str = "rota";
const MODEL_PROVIDER: &str = "model_provider";
const NAME: &str = "model_providers.rota.name";
const BASE_URL: &str = "model_providers.rota.base_url";
const WIRE_API: &str = "model_providers.rota.wire_api";
const TOKEN: &str = "model_providers.rota.experimental_bearer_token";

pub(crate) fn desired(endpoint: &Endpoint) -> Settings {
    Settings::from([
        (MODEL_PROVIDER.to_owned(), Some(PROVIDER_ID.to_owned())),
        (NAME.to_owned(), Some("Rota".to_owned())),
        (
            BASE_URL.to_owned(),
            Some(format!("{}/openai", endpoint.base_url)),
        ),
        (WIRE_API.to_owned(), Some("responses".to_owned())),
        (TOKEN.to_owned(), Some(endpoint.key.expose().to_owned())),
    ])
}

fn parse(bytes: &[u8]) -> Result<DocumentMut, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    text.parse::<DocumentMut>().map_err(|e| {
        // The location only: the message can quote the offending line (a credential).
        match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("not valid TOML (line {line})")
            }
            None => "not valid TOML".to_owned(),
        }
    })
}

fn get<'a>(doc: &'a DocumentMut, path: &str) -> Option<&'a Item> {
    let mut cur = doc.as_item();
    for seg in path.split('.') {
        cur = cur.get(seg)?;
    }
    Some(cur)
}

pub(crate) fn values(bytes: &[u8], paths: &Settings) -> Result<Settings, String> {
    let doc = parse(bytes)?;
    Ok(paths
        .keys()
        .map(|p| {
            (
                p.clone(),
                get(&doc, p).and_then(Item::as_str).map(str::to_owned),
            )
        })
        .collect())
}

pub(crate) fn apply(bytes: Option<&[u8]>, changes: &Settings) -> Result<Vec<u8>, String> {
    let mut doc = match bytes {
        Some(b) => parse(b)?,
        None => DocumentMut::new(),
    };
    for (path, v) in changes {
        let segs: Vec<&str> = path.split('.').collect();
        let (last, parents) = segs.split_last().ok_or("empty path")?;
        match v {
            Some(v) => {
                let mut cur = doc.as_table_mut();
                for seg in parents {
                    let item = cur.entry(seg).or_insert_with(|| {
                        let mut t = Table::new();
                        // `[model_providers.rota]` without an empty `[model_providers]` header.
                        t.set_implicit(true);
                        Item::Table(t)
                    });
                    cur = item
                        .as_table_mut()
                        .ok_or_else(|| format!("\"{seg}\" is not a table"))?;
                }
                cur.insert(last, value(v.as_str()));
            }
            None => {
                remove(doc.as_table_mut(), &segs);
            }
        }
    }
    Ok(doc.to_string().into_bytes())
}

/// Removes the path; tables a removal leaves empty go too. Returns whether `t` is empty.
fn remove(t: &mut Table, segs: &[&str]) -> bool {
    match segs {
        [] => {}
        [last] => {
            t.remove(last);
        }
        [first, rest @ ..] => {
            if let Some(child) = t.get_mut(first).and_then(Item::as_table_mut)
                && remove(child, rest)
            {
                t.remove(first);
            }
        }
    }
    t.is_empty()
}

/// The provider in use and its credential: Rota's table when `model_provider = "rota"`, else
/// the named provider's `base_url` (or its id when it has none).
pub(crate) fn pointing(bytes: &[u8]) -> Result<(Option<String>, Option<String>), String> {
    let doc = parse(bytes)?;
    let Some(id) = get(&doc, MODEL_PROVIDER).and_then(Item::as_str) else {
        return Ok((None, None));
    };
    let table = format!("model_providers.{id}");
    let url = get(&doc, &format!("{table}.base_url"))
        .and_then(Item::as_str)
        .map_or_else(|| format!("model provider \"{id}\""), str::to_owned);
    let key = get(&doc, &format!("{table}.experimental_bearer_token"))
        .and_then(Item::as_str)
        .map(str::to_owned);
    Ok((Some(url), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_comments_and_other_tables_and_undoes() {
        let before = "# my settings\nmodel = \"gpt-5\"\n\n[model_providers.ollama]\nbase_url = \"http://localhost:11434/v1\"\n";
        let want = Settings::from([
            (MODEL_PROVIDER.to_owned(), Some("rota".to_owned())),
            (
                BASE_URL.to_owned(),
                Some("http://127.0.0.1:9/openai".to_owned()),
            ),
            (TOKEN.to_owned(), Some("rota_k".to_owned())),
        ]);
        let after = String::from_utf8(apply(Some(before.as_bytes()), &want).unwrap()).unwrap();
        assert!(after.starts_with("# my settings\n"), "{after}");
        assert!(
            after.contains("model = \"gpt-5\"\nmodel_provider = \"rota\"\n"),
            "{after}"
        );
        assert!(after.contains("[model_providers.ollama]"));
        assert!(after.contains("[model_providers.rota]\n"), "{after}");
        assert_eq!(
            pointing(after.as_bytes()).unwrap(),
            (
                Some("http://127.0.0.1:9/openai".to_owned()),
                Some("rota_k".to_owned())
            )
        );
        let unset: Settings = want.keys().map(|k| (k.clone(), None)).collect();
        let back = String::from_utf8(apply(Some(after.as_bytes()), &unset).unwrap()).unwrap();
        assert!(!back.contains("rota"), "{back}");
        assert!(back.contains("[model_providers.ollama]"));
    }

    #[test]
    fn refuses_what_does_not_parse() {
        let err = values(b"a = \"rota_secret\nb = 1", &Settings::new()).unwrap_err();
        assert!(err.contains("line 1"), "{err}");
        assert!(!err.contains("rota_secret"));
    }
}
