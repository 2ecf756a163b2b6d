//! rota-mock (being written).
