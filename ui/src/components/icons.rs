//! Inline SVG icons (no icon font, no network).

use leptos::prelude::*;

/// A 24-unit line icon drawn in the text colour with round ends and joins.
#[component]
fn LineIcon(class: &'static str, width: &'static str, children: Children) -> impl IntoView {
    view! {
        <svg class=class viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" stroke-width=width stroke-linecap="round" stroke-linejoin="round">
            {children()}
        </svg>
    }
}

#[component]
pub fn Logo() -> impl IntoView {
    view! {
        <svg class="logo" viewBox="0 0 512 512" aria-hidden="true">
            <defs>
                <linearGradient id="logo-g" x1="0" y1="0" x2="1" y2="1">
                    <stop offset="0" stop-color="#6d5dfc" />
                    <stop offset="1" stop-color="#2f7df6" />
                </linearGradient>
            </defs>
            <rect x="16" y="16" width="480" height="480" rx="112" fill="url(#logo-g)" />
            <circle cx="256" cy="256" r="136" fill="none" stroke="#fff" stroke-opacity="0.35" stroke-width="28" />
            <path d="M256 120 A136 136 0 0 1 373.8 324" fill="none" stroke="#fff" stroke-width="28" stroke-linecap="round" />
            <circle cx="256" cy="120" r="40" fill="#fff" />
            <circle cx="138.2" cy="324" r="32" fill="#fff" fill-opacity="0.8" />
            <circle cx="373.8" cy="324" r="32" fill="#fff" fill-opacity="0.8" />
        </svg>
    }
}

#[component]
pub fn GearIcon() -> impl IntoView {
    view! {
        <LineIcon class="icon" width="1.8">
        <circle cx="12" cy="12" r="3" />
        <path d="M19.4 15a1.65 1.65 0 0 0 .33 1.82l.06.06a2 2 0 1 1-2.83 2.83l-.06-.06a1.65 1.65 0 0 0-1.82-.33 1.65 1.65 0 0 0-1 1.51V21a2 2 0 1 1-4 0v-.09A1.65 1.65 0 0 0 9 19.4a1.65 1.65 0 0 0-1.82.33l-.06.06a2 2 0 1 1-2.83-2.83l.06-.06A1.65 1.65 0 0 0 4.68 15a1.65 1.65 0 0 0-1.51-1H3a2 2 0 1 1 0-4h.09A1.65 1.65 0 0 0 4.6 9a1.65 1.65 0 0 0-.33-1.82l-.06-.06a2 2 0 1 1 2.83-2.83l.06.06A1.65 1.65 0 0 0 9 4.68a1.65 1.65 0 0 0 1-1.51V3a2 2 0 1 1 4 0v.09a1.65 1.65 0 0 0 1 1.51 1.65 1.65 0 0 0 1.82-.33l.06-.06a2 2 0 1 1 2.83 2.83l-.06.06A1.65 1.65 0 0 0 19.4 9a1.65 1.65 0 0 0 1.51 1H21a2 2 0 1 1 0 4h-.09a1.65 1.65 0 0 0-1.51 1z" />
        </LineIcon>
    }
}

#[component]
pub fn SessionsIcon() -> impl IntoView {
    view! {
        <LineIcon class="icon-lg" width="1.5">
        <path d="M4 17l6-6-6-6" />
        <path d="M12 19h8" />
        </LineIcon>
    }
}

#[component]
pub fn CloseIcon() -> impl IntoView {
    view! {
        <LineIcon class="icon" width="2">
        <path d="M6 6l12 12M18 6L6 18" />
        </LineIcon>
    }
}

#[component]
pub fn ChevronIcon() -> impl IntoView {
    view! {
        <LineIcon class="icon chevron" width="2">
        <path d="M9 6l6 6-6 6" />
        </LineIcon>
    }
}

#[component]
pub fn SearchIcon() -> impl IntoView {
    view! {
        <LineIcon class="icon search-icon" width="2">
        <circle cx="11" cy="11" r="7" />
        <path d="M20 20l-3.5-3.5" />
        </LineIcon>
    }
}

#[component]
pub fn PencilIcon() -> impl IntoView {
    view! {
        <LineIcon class="icon" width="2">
        <path d="M12 20h9" />
        <path d="M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z" />
        </LineIcon>
    }
}
