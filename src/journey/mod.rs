//! Bot journeys: the graph, its validation, interpolation and the pure interpreter.
//!
//! This module never performs I/O and never reads the clock: the interpreter maps
//! `(session, input)` to `(session, effects)`, and the conversation actor carries the effects
//! out. It must not import `actors`, `store` or `adapters`.

pub mod condition;
pub mod input;
pub mod interpolate;
pub mod interpreter;
pub mod model;
pub mod request;
pub mod tools;
pub mod validate;
pub mod values;

pub use interpreter::{
    run, AgentNext, AgentTurn, ApiRequest, ApiResponse, Completion, Context, Effect, EndReason,
    Input, Outcome, Session, Waiting,
};
pub use model::{Connection, Journey, Position, Step, StepKind};
pub use validate::{validate, ValidationProblem};
