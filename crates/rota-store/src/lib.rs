//! rota-store (being written).
