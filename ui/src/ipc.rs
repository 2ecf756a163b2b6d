//! The typed bridge to the shell. `invoke` is bound with `catch`: a rejected command reaches the
//! caller as an `Err(ApiError)`, never as a panic in the UI.

use rota_types::{ApiError, Command, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], js_name = invoke, catch)]
    async fn tauri_invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "event"], js_name = listen, catch)]
    async fn tauri_listen(
        event: &str,
        handler: &Closure<dyn FnMut(JsValue)>,
    ) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = ["navigator", "clipboard"], js_name = writeText, catch)]
    async fn clipboard_write_text(text: &str) -> Result<JsValue, JsValue>;
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, ApiError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("could not encode the request: {e}"),
            )
        })
}

fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, serde_wasm_bindgen::Error> {
    serde_wasm_bindgen::from_value(value)
}

/// Calls command `C` with its request; the shell's `{code, message}` errors come back typed.
pub async fn call<C: Command>(request: &C::Request) -> Result<C::Response, ApiError> {
    let args = js_sys::Object::new();
    js_sys::Reflect::set(&args, &JsValue::from_str("request"), &to_js(request)?)
        .map_err(|_| ApiError::new(ErrorCode::Internal, "could not build the command arguments"))?;
    match tauri_invoke(C::NAME, args.into()).await {
        Ok(value) => from_js(value).map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("unexpected answer from {}: {e}", C::NAME),
            )
        }),
        Err(err) => Err(from_js::<ApiError>(err.clone()).unwrap_or_else(|_| {
            // Errors raised by Tauri itself (e.g. a denied permission) are plain strings.
            let text = err.as_string().unwrap_or_else(|| format!("{err:?}"));
            ApiError::new(ErrorCode::Internal, format!("{} failed: {text}", C::NAME))
        })),
    }
}

/// Subscribes to a shell event for the lifetime of the page; the payload is decoded as `T`.
pub fn listen<T: DeserializeOwned + 'static>(
    event: &'static str,
    mut handler: impl FnMut(T) + 'static,
) {
    let closure = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let payload =
            js_sys::Reflect::get(&e, &JsValue::from_str("payload")).unwrap_or(JsValue::NULL);
        match from_js::<T>(payload) {
            Ok(v) => handler(v),
            Err(err) => web_sys_log(&format!("rota: undecodable {event} event: {err}")),
        }
    });
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(err) = tauri_listen(event, &closure).await {
            web_sys_log(&format!("rota: cannot listen to {event}: {err:?}"));
        }
        // The listener lives as long as the page.
        closure.forget();
    });
}

/// The wall clock in unix milliseconds (the webview's `Date.now()`).
#[must_use]
#[allow(clippy::cast_possible_truncation)] // whole milliseconds since 1970 fit an i64
pub fn now_ms() -> rota_types::UnixMs {
    js_sys::Date::now() as rota_types::UnixMs
}

/// Copies text to the clipboard.
pub async fn copy_text(text: &str) -> Result<(), String> {
    clipboard_write_text(text)
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

fn web_sys_log(message: &str) {
    web_sys::console::warn_1(&JsValue::from_str(message));
}
