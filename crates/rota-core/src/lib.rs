//! rota-core (being written).
