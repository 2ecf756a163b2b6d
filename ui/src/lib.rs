//! rota-ui (being written).
