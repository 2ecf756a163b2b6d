//! An on/off setting: its title, a hint, whatever else the row must say, and the switch.

use leptos::prelude::*;

/// A labelled switch (`role="switch"`); `on_change` gets the state asked for. The switch shows
/// `checked`, the setting as it is: a click does not move it until the change is saved (or
/// confirmed, where the row asks first), so a cancelled or failed change leaves it where it was.
#[component]
pub fn ToggleRow(
    id: &'static str,
    #[prop(into)] title: String,
    #[prop(into)] hint: String,
    #[prop(into)] checked: Signal<bool>,
    #[prop(into)] disabled: Signal<bool>,
    #[prop(into)] on_change: Callback<bool>,
    /// More lines under the hint (a warning, where the value comes from).
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    view! {
        <label class="toggle-row" for=id>
            <span class="toggle-text">
                <span class="toggle-title">{title}</span>
                <span class="muted">{hint}</span>
                {children.map(|c| c())}
            </span>
            <input type="checkbox" role="switch" id=id class="toggle"
                disabled=move || disabled.get()
                prop:checked=move || checked.get()
                on:change=move |e| {
                    let wanted = event_target_checked(&e);
                    event_target::<web_sys::HtmlInputElement>(&e).set_checked(checked.get_untracked());
                    on_change.run(wanted);
                } />
        </label>
    }
}
