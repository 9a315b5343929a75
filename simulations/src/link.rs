//! The link model: how long a frame occupies a channel and when it arrives.
//!
//! The sync protocol needs each link to deliver frames reliably and in order (it keeps a zstd
//! stream context per link), as TCP or yamux do. So loss is modelled as the transport repairs it:
//! a frame travels as `ceil(len / mtu)` packets, each with `overhead_bytes_per_packet` of headers;
//! a lost packet is sent again after the retransmission timeout, doubled for each further loss of
//! the same packet up to [`MAX_BACKOFF_SHIFT`] doublings as TCP backs off, and the channel
//! carries nothing else meanwhile (stop-and-wait per packet, which keeps frames in order and is pessimistic for
//! long fat links). Loss is drawn per packet, independently or from a Gilbert–Elliott chain.
//! Serialization times are rounded up to whole milliseconds of virtual time.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

use crate::scenario::LinkModel;

/// A transmission attempt never repeats a packet more than this; beyond it the packet is taken
/// as delivered, so a pathological loss setting cannot stall the run forever.
const MAX_ATTEMPTS_PER_PACKET: u32 = 1000;
/// A packet lost again and again waits at most 2^6 retransmission timeouts between attempts.
pub const MAX_BACKOFF_SHIFT: u32 = 6;

/// How one frame went over one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmission {
    /// How long the channel was occupied, retransmission waits included.
    pub channel_ms: u64,
    /// Time spent actually serializing bits (headers and repeats included), for utilisation.
    pub serializing_ms: u64,
    /// Frame bytes sent again after a loss (headers not included).
    pub retransmitted_bytes: u64,
    pub packets: u64,
}

/// The loss process of one direction of a link.
#[derive(Debug, Clone, Copy, Default)]
pub struct LossState {
    bad: bool,
}

impl LossState {
    /// Steps the chain once and tells whether this packet is lost.
    fn packet_lost(&mut self, model: &LinkModel, rng: &mut ChaCha8Rng) -> bool {
        let Some(burst) = &model.burst else {
            return model.loss > 0.0 && rng.random_bool(model.loss);
        };
        let switch = if self.bad {
            burst.p_bad_to_good
        } else {
            burst.p_good_to_bad
        };
        if switch > 0.0 && rng.random_bool(switch) {
            self.bad = !self.bad;
        }
        let loss = if self.bad { burst.loss_bad } else { model.loss };
        loss > 0.0 && rng.random_bool(loss)
    }
}

/// Sends a frame of `frame_len` bytes over a channel of `model`.
pub fn transmit(
    model: &LinkModel,
    loss: &mut LossState,
    frame_len: u64,
    rng: &mut ChaCha8Rng,
) -> Transmission {
    let mtu = model.mtu_bytes.max(1);
    let packets = frame_len.div_ceil(mtu).max(1);
    let rto = model.retransmit_timeout();
    let mut wire_bits: u64 = 0;
    let mut waiting_ms: u64 = 0;
    let mut retransmitted_bytes = 0;
    for packet in 0..packets {
        let payload = mtu.min(frame_len - packet * mtu);
        let bits = (payload + model.overhead_bytes_per_packet) * 8;
        wire_bits += bits;
        let mut attempts = 1;
        while attempts < MAX_ATTEMPTS_PER_PACKET && loss.packet_lost(model, rng) {
            wire_bits += bits;
            waiting_ms += rto << (attempts - 1).min(MAX_BACKOFF_SHIFT);
            attempts += 1;
            retransmitted_bytes += payload;
        }
    }
    let serializing_ms = (wire_bits * 1000).div_ceil(model.bandwidth_bps);
    Transmission {
        channel_ms: serializing_ms + waiting_ms,
        serializing_ms,
        retransmitted_bytes,
        packets,
    }
}

/// One frame's propagation delay: `latency ± jitter`, never negative.
pub fn propagation_ms(model: &LinkModel, rng: &mut ChaCha8Rng) -> u64 {
    if model.jitter_ms == 0 {
        return model.latency_ms;
    }
    let low = model.latency_ms.saturating_sub(model.jitter_ms);
    rng.random_range(low..=model.latency_ms + model.jitter_ms)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::scenario::GilbertElliott;

    #[test]
    fn serialization_counts_headers_per_packet() {
        let model = LinkModel {
            bandwidth_bps: 8000,
            mtu_bytes: 100,
            overhead_bytes_per_packet: 20,
            ..LinkModel::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t = transmit(&model, &mut LossState::default(), 250, &mut rng);
        assert_eq!(t.packets, 3);
        assert_eq!(t.serializing_ms, 310);
        assert_eq!(t.channel_ms, 310);
        assert_eq!(t.retransmitted_bytes, 0);
    }

    #[test]
    fn losses_cost_a_timeout_and_the_bytes_again() {
        let model = LinkModel {
            bandwidth_bps: 100,
            loss: 0.3,
            latency_ms: 4000,
            ..LinkModel::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut loss = LossState::default();
        let sent: Vec<Transmission> = (0..1000)
            .map(|_| transmit(&model, &mut loss, 100, &mut rng))
            .collect();
        let repeats: u64 = sent.iter().map(|t| t.retransmitted_bytes / 100).sum();
        // Geometric: 0.3 / 0.7 repeats per packet on average.
        assert!((380..480).contains(&repeats), "{repeats}");
        let t = sent.iter().find(|t| t.retransmitted_bytes == 100).unwrap();
        assert_eq!(t.channel_ms, 2 * 11_200 + model.retransmit_timeout());
    }

    #[test]
    fn repeated_losses_of_a_packet_back_off() {
        let model = LinkModel {
            bandwidth_bps: 1_000_000,
            loss: 0.9,
            ..LinkModel::default()
        };
        let rto = model.retransmit_timeout();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut loss = LossState::default();
        let t = (0..100)
            .map(|_| transmit(&model, &mut loss, 10, &mut rng))
            .find(|t| t.retransmitted_bytes == 30)
            .expect("some packet is lost three times");
        assert_eq!(t.channel_ms - t.serializing_ms, rto + 2 * rto + 4 * rto);
    }

    #[test]
    fn bursty_loss_clusters() {
        let model = LinkModel {
            mtu_bytes: 10,
            burst: Some(GilbertElliott {
                p_good_to_bad: 0.01,
                p_bad_to_good: 0.2,
                loss_bad: 0.9,
            }),
            ..LinkModel::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut state = LossState::default();
        let losses: Vec<bool> = (0..20_000)
            .map(|_| state.packet_lost(&model, &mut rng))
            .collect();
        let lost = losses.iter().filter(|l| **l).count();
        let after_loss = losses.windows(2).filter(|w| w[0] && w[1]).count();
        // Stationary bad share ≈ 0.01 / 0.21, so ≈ 4 % lost overall but ≈ 70 % after a loss.
        assert!((500..1300).contains(&lost), "{lost}");
        assert!(after_loss * 2 > lost, "{after_loss} of {lost}");
    }
}
