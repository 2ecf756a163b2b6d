//! rota-e2e (being written).
