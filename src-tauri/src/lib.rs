//! rota-app (being written).
