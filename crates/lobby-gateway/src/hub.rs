//! The broadcast channels of this process, one per topic: a train's lobby with members, or a
//! user with an open `/ws/me`. A channel is made on the first join and dropped with the last
//! socket, so idle trains and users cost nothing; each is bounded, so a socket that falls more
//! than its capacity behind sees `Lagged` and is dropped rather than queued for. The hub also
//! keeps the last log position fanned out, under the same lock as the channels: a socket that
//! joins knows exactly which events it will get live and which it must replay.

use crate::feed::Outgoing;
use domain::{TrainId, UserId};
use event_store::Position;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::broadcast;

/// Who a broadcast is for: the members of a train's lobby, or one user's own sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Train(TrainId),
    User(UserId),
}

/// The channels of this process: lobbies with members, by train, and users with open sockets.
pub struct Hub {
    capacity: usize,
    state: Mutex<HubState>,
    /// Whether the log feed runs.
    following: AtomicBool,
}

#[derive(Default)]
pub(crate) struct HubState {
    channels: HashMap<Topic, broadcast::Sender<Arc<Outgoing>>>,
    /// The last event fanned out (or passed over).
    pub(crate) position: Option<Position>,
}

/// A socket's place in its topic's channel; leaving drops the channel with its last socket.
pub struct Membership<'a> {
    hub: &'a Hub,
    topic: Topic,
    pub receiver: broadcast::Receiver<Arc<Outgoing>>,
}

impl Drop for Membership<'_> {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        // Our own receiver still counts; under the lock nobody can join meanwhile.
        if state
            .channels
            .get(&self.topic)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            state.channels.remove(&self.topic);
        }
    }
}

impl Hub {
    /// Sockets may fall `capacity` messages behind before they are dropped.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::default(),
            following: AtomicBool::new(false),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins `topic`'s channel: everything fanned out after the returned position arrives.
    pub fn join(&self, topic: Topic) -> (Membership<'_>, Option<Position>) {
        let mut state = self.lock();
        let receiver = state
            .channels
            .entry(topic)
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe();
        let membership = Membership {
            hub: self,
            topic,
            receiver,
        };
        (membership, state.position)
    }

    /// Hands `outgoing` to the sockets of `topic` in this process.
    pub fn send(&self, topic: Topic, outgoing: Outgoing) {
        let mut state = self.lock();
        if let Some(position) = outgoing.position {
            state.position = Some(position);
        }
        if let Some(sender) = state.channels.get(&topic) {
            // No receiver left is fine: the last socket just went.
            let _ = sender.send(Arc::new(outgoing));
        }
    }

    /// Lobby members in this process, across lobbies.
    pub fn members(&self) -> usize {
        self.lock()
            .channels
            .iter()
            .filter(|(topic, _)| matches!(topic, Topic::Train(_)))
            .map(|(_, sender)| sender.receiver_count())
            .sum()
    }

    pub(crate) fn is_following(&self) -> bool {
        self.following.load(Ordering::Relaxed)
    }

    pub(crate) fn set_following(&self) {
        self.following.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(at: &str) -> Outgoing {
        let position = at.parse().expect("a position");
        Outgoing::logged(&serde_json::json!({ "at": at }), position)
    }

    #[test]
    fn a_users_channel_reaches_each_of_its_sockets_and_goes_with_the_last() {
        let hub = Hub::new(4);
        let (ann, bob) = (Topic::User(UserId(1)), Topic::User(UserId(2)));
        let (mut phone, _) = hub.join(ann);
        let (mut laptop, _) = hub.join(ann);
        let (mut other, _) = hub.join(bob);
        hub.send(ann, logged("1.1"));
        for socket in [&mut phone, &mut laptop] {
            let got = socket.receiver.try_recv().expect("the message");
            assert_eq!(got.position, "1.1".parse().ok());
        }
        assert!(other.receiver.try_recv().is_err(), "not for another user");
        drop(phone);
        assert!(hub.lock().channels.contains_key(&ann));
        drop(laptop);
        assert!(!hub.lock().channels.contains_key(&ann));
        assert!(hub.lock().channels.contains_key(&bob));
    }

    #[test]
    fn a_socket_joins_at_the_last_position_fanned_out() {
        let hub = Hub::new(4);
        let ann = Topic::User(UserId(1));
        hub.send(Topic::Train(TrainId(9)), logged("5.5"));
        let (_socket, joined_at) = hub.join(ann);
        assert_eq!(joined_at, "5.5".parse().ok());
        // Lobby members only: a user's socket is not a lobby member.
        assert_eq!(hub.members(), 0);
    }
}
