//! The interface both roles of the constant extension share, so that one driver runs either
//! (the constant counterpart of [`crate::session::Session`]).

use super::config::ConstantError;
use super::master::{Master, MasterEvent};
use super::mirror::{Mirror, MirrorEvent};
use crate::session::{FsAnswer, FsRequest};

/// A role of a constant session: bytes, answers and the end of file in; record bytes,
/// requests and events out. Poll the outputs after every input until each is empty;
/// execute requests strictly in order and answer those that need it in that order.
pub trait ConstantRole {
    /// What the role tells its application.
    type Event;

    /// Payload bytes of the peer's `MSG_DATA` frames, in any chunking.
    ///
    /// # Errors
    /// A [`ConstantError`]; the role is then finished.
    fn handle_data(&mut self, bytes: &[u8]) -> Result<(), ConstantError>;

    /// The answer to the oldest outstanding request that needs one.
    ///
    /// # Errors
    /// A [`ConstantError`]; the role is then finished.
    fn handle_answer(&mut self, answer: FsAnswer) -> Result<(), ConstantError>;

    /// The peer closed the connection.
    ///
    /// # Errors
    /// [`ConstantError::UnexpectedEof`] unless the session had ended.
    fn handle_eof(&mut self) -> Result<(), ConstantError>;

    /// Appends record bytes to send in `MSG_DATA` to `out`; `true` with nothing appended is a
    /// keepalive (an empty `MSG_DATA` frame).
    fn poll_output(&mut self, out: &mut Vec<u8>) -> bool;

    /// The next file-system request.
    fn poll_request(&mut self) -> Option<FsRequest>;

    /// The next event.
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// Half the timeout passed without writing: queue a keepalive.
    fn keepalive(&mut self);

    /// Whether the session has ended.
    fn is_done(&self) -> bool;
}

macro_rules! forward {
    ($role:ty, $event:ty) => {
        impl ConstantRole for $role {
            type Event = $event;
            fn handle_data(&mut self, bytes: &[u8]) -> Result<(), ConstantError> {
                <$role>::handle_data(self, bytes)
            }
            fn handle_answer(&mut self, answer: FsAnswer) -> Result<(), ConstantError> {
                <$role>::handle_answer(self, answer)
            }
            fn handle_eof(&mut self) -> Result<(), ConstantError> {
                <$role>::handle_eof(self)
            }
            fn poll_output(&mut self, out: &mut Vec<u8>) -> bool {
                <$role>::poll_output(self, out)
            }
            fn poll_request(&mut self) -> Option<FsRequest> {
                <$role>::poll_request(self)
            }
            fn poll_event(&mut self) -> Option<$event> {
                <$role>::poll_event(self)
            }
            fn keepalive(&mut self) {
                <$role>::keepalive(self)
            }
            fn is_done(&self) -> bool {
                <$role>::is_done(self)
            }
        }
    };
}

forward!(Master, MasterEvent);
forward!(Mirror, MirrorEvent);
