//! The shape every aggregate takes: a pure decision function and a pure fold.

/// Pure and synchronous: no clock, no I/O, no randomness. Inputs from outside arrive in the command.
pub trait Decider {
    type State: Default;
    type Command;
    type Event;
    type Error: std::error::Error;

    /// Every business rule lives here.
    fn decide(state: &Self::State, command: Self::Command)
    -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds a recorded fact into state. Infallible: replaying history never fails.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// Folds a whole history, oldest first.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State
    where
        Self::Event: 'a,
    {
        events
            .into_iter()
            .fold(Self::State::default(), Self::evolve)
    }
}
