// SPDX-License-Identifier: GPL-2.0

//! XenBus negotiation decisions.

use std::collections::HashMap;

use crate::negotiate::*;

/// A fake backend XenStore directory.
fn store(entries: &[(&str, &str)]) -> HashMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn read_features(s: &HashMap<String, String>) -> Result<BackendFeatures, NegotiateError> {
    BackendFeatures::read(|key, buf| {
        let v = s.get(key)?;
        let n = v.len().min(buf.len());
        buf[..n].copy_from_slice(&v.as_bytes()[..n]);
        Some(v.len())
    })
}

fn writes(plan: &ConnectPlan, queues: &[QueueKeys]) -> Vec<(String, String)> {
    frontend_writes(plan, queues)
        .unwrap()
        .map(|w| {
            assert_eq!(w.key_with_nul().last(), Some(&0));
            assert_eq!(w.value_with_nul().last(), Some(&0));
            assert_eq!(w.key_bytes(), w.key().as_bytes());
            (w.key().to_string(), w.value().to_string())
        })
        .collect()
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn q(n: u32) -> QueueKeys {
    QueueKeys {
        tx_ring_ref: 100 + n,
        rx_ring_ref: 200 + n,
        evtchn_tx: 10 + n,
        evtchn_rx: 20 + n,
    }
}

#[test]
fn mac_parsing() {
    assert_eq!(
        parse_mac(b"00:16:3e:5a:0B:fF"),
        Ok([0x00, 0x16, 0x3e, 0x5a, 0x0b, 0xff])
    );
    assert_eq!(parse_mac(b""), Err(MacError::BadLength { len: 0 }));
    assert_eq!(
        parse_mac(b"00:16:3e:5a:0b:ff\n"),
        Err(MacError::BadLength { len: 18 })
    );
    assert_eq!(
        parse_mac(b"0:16:3e:5a:0b:ff"),
        Err(MacError::BadLength { len: 16 })
    );
    assert_eq!(
        parse_mac(b"00:16:3g:5a:0b:ff"),
        Err(MacError::BadHex { pos: 7 })
    );
    assert_eq!(
        parse_mac(b"x0:16:3e:5a:0b:ff"),
        Err(MacError::BadHex { pos: 0 })
    );
    assert_eq!(
        parse_mac(b"00-16:3e:5a:0b:ff"),
        Err(MacError::BadSeparator { pos: 2 })
    );
    assert_eq!(
        parse_mac(b"00:16:3e:5a:0b ff"),
        Err(MacError::BadSeparator { pos: 14 })
    );
    assert_eq!(parse_mac(b"01:16:3e:5a:0b:ff"), Err(MacError::Multicast));
    assert_eq!(parse_mac(b"ff:ff:ff:ff:ff:ff"), Err(MacError::Multicast));
    assert_eq!(parse_mac(b"00:00:00:00:00:00"), Err(MacError::AllZero));
    // Locally administered unicast is fine.
    assert_eq!(parse_mac(b"02:00:00:00:00:01").unwrap()[0], 0x02);
    for e in [
        MacError::BadLength { len: 3 },
        MacError::BadHex { pos: 1 },
        MacError::BadSeparator { pos: 2 },
        MacError::Multicast,
        MacError::AllZero,
    ] {
        let msg = NegotiateError::from(e).to_string();
        assert!(msg.starts_with("invalid mac: "), "{msg}");
    }
}

#[test]
fn unsigned_like_xenbus_read_unsigned() {
    assert_eq!(parse_unsigned(b"1"), Some(1));
    assert_eq!(parse_unsigned(b"0"), Some(0));
    assert_eq!(parse_unsigned(b"  42"), Some(42));
    assert_eq!(parse_unsigned(b"\n7"), Some(7));
    assert_eq!(parse_unsigned(b"8 queues"), Some(8));
    assert_eq!(parse_unsigned(b"4294967295"), Some(u32::MAX));
    assert_eq!(parse_unsigned(b"4294967296"), None);
    assert_eq!(parse_unsigned(b""), None);
    assert_eq!(parse_unsigned(b"   "), None);
    assert_eq!(parse_unsigned(b"yes"), None);
    assert_eq!(parse_unsigned(b"-1"), None);
    assert_eq!(parse_unsigned(b"+1"), None);
    assert_eq!(read_unsigned(None, 5), 5);
    assert_eq!(read_unsigned(Some(b"garbage"), 5), 5);
    assert_eq!(read_unsigned(Some(b"0"), 5), 0);
    assert_eq!(read_unsigned(Some(b"3"), 5), 3);
}

#[test]
fn backend_without_rx_copy_is_rejected() {
    for s in [
        store(&[]),
        store(&[("feature-rx-copy", "0")]),
        store(&[("feature-rx-copy", "maybe")]),
        store(&[("feature-sg", "1"), ("multi-queue-max-queues", "4")]),
    ] {
        let e = read_features(&s).unwrap_err();
        assert_eq!(e, NegotiateError::NoRxCopy);
        assert_eq!(e.to_string(), "backend lacks feature-rx-copy");
    }
    let f = BackendFeatures::default();
    assert_eq!(
        plan(&f, &FrontendConfig::default()),
        Err(NegotiateError::NoRxCopy)
    );
}

#[test]
fn minimal_legacy_backend() {
    let f = read_features(&store(&[("feature-rx-copy", "1")])).unwrap();
    assert_eq!(
        f,
        BackendFeatures {
            rx_copy: true,
            max_queues: 1,
            ..Default::default()
        }
    );
    let p = plan(&f, &FrontendConfig::default()).unwrap();
    assert_eq!(p.num_queues, 1);
    assert!(!p.split_event_channels);
    assert!(!p.write_num_queues);
    assert_eq!(
        p.features,
        NetFeatures {
            sg: false,
            tso: false,
            tso6: false,
            ip_csum: true,
            ipv6_csum: false,
        }
    );
    assert_eq!(
        writes(&p, &[q(0)]),
        kv(&[
            ("tx-ring-ref", "100"),
            ("rx-ring-ref", "200"),
            ("event-channel", "10"),
            ("request-rx-copy", "1"),
            ("feature-rx-notify", "1"),
            ("feature-sg", "1"),
            ("feature-gso-tcpv4", "1"),
            ("feature-gso-tcpv6", "1"),
            ("feature-ipv6-csum-offload", "1"),
        ])
    );
}

#[test]
fn full_featured_linux_netback() {
    let s = store(&[
        ("feature-rx-copy", "1"),
        ("feature-sg", "1"),
        ("feature-gso-tcpv4", "1"),
        ("feature-gso-tcpv6", "1"),
        ("feature-ipv6-csum-offload", "1"),
        ("feature-split-event-channels", "1"),
        ("multi-queue-max-queues", "4"),
        ("feature-ctrl-ring", "1"),
        ("feature-xdp-headroom", "1"),
        ("feature-multicast-control", "1"),
        ("feature-dynamic-multicast-control", "1"),
        ("feature-rx-flip", "0"),
    ]);
    let f = read_features(&s).unwrap();
    assert!(f.sg && f.gso_tcpv4 && f.gso_tcpv6 && f.ipv6_csum_offload);
    assert!(f.split_event_channels && f.multi_queue && f.ctrl_ring);
    assert!(f.xdp_headroom && f.multicast_control && f.dynamic_multicast_control);
    assert!(!f.no_csum_offload);
    assert_eq!(f.max_queues, 4);

    let cfg = FrontendConfig {
        max_queues: 2,
        ..Default::default()
    };
    let p = plan(&f, &cfg).unwrap();
    assert_eq!(p.num_queues, 2);
    assert!(p.split_event_channels && p.write_num_queues);
    assert_eq!(
        p.features,
        NetFeatures {
            sg: true,
            tso: true,
            tso6: true,
            ip_csum: true,
            ipv6_csum: true,
        }
    );
    assert_eq!(
        writes(&p, &[q(0), q(1)]),
        kv(&[
            ("multi-queue-num-queues", "2"),
            ("queue-0/tx-ring-ref", "100"),
            ("queue-0/rx-ring-ref", "200"),
            ("queue-0/event-channel-tx", "10"),
            ("queue-0/event-channel-rx", "20"),
            ("queue-1/tx-ring-ref", "101"),
            ("queue-1/rx-ring-ref", "201"),
            ("queue-1/event-channel-tx", "11"),
            ("queue-1/event-channel-rx", "21"),
            ("request-rx-copy", "1"),
            ("feature-rx-notify", "1"),
            ("feature-sg", "1"),
            ("feature-gso-tcpv4", "1"),
            ("feature-gso-tcpv6", "1"),
            ("feature-ipv6-csum-offload", "1"),
        ])
    );

    // Backend limits the queue count; one queue keeps flat keys but still
    // writes multi-queue-num-queues because the backend advertised it.
    let s1 = store(&[
        ("feature-rx-copy", "1"),
        ("multi-queue-max-queues", "1"),
        ("feature-split-event-channels", "1"),
    ]);
    let p = plan(&read_features(&s1).unwrap(), &FrontendConfig::default()).unwrap();
    assert_eq!(p.num_queues, 1);
    assert_eq!(
        writes(&p, &[q(0)])[..5].to_vec(),
        kv(&[
            ("multi-queue-num-queues", "1"),
            ("tx-ring-ref", "100"),
            ("rx-ring-ref", "200"),
            ("event-channel-tx", "10"),
            ("event-channel-rx", "20"),
        ])
    );
}

#[test]
fn queue_count_clamping_and_garbage_values() {
    let base = |mq: &str| {
        store(&[
            ("feature-rx-copy", "1"),
            ("multi-queue-max-queues", mq),
            ("feature-sg", "on"),
            ("feature-no-csum-offload", "1"),
        ])
    };
    let cfg = FrontendConfig::default();
    let f = read_features(&base("16")).unwrap();
    assert!(!f.sg, "garbage means default (0)");
    assert_eq!(plan(&f, &cfg).unwrap().num_queues, MAX_QUEUES_DEFAULT);
    assert!(!plan(&f, &cfg).unwrap().features.ip_csum);
    // Garbage and zero both end up with one queue.
    let f = read_features(&base("lots")).unwrap();
    assert!(f.multi_queue);
    assert_eq!(f.max_queues, 1);
    assert_eq!(plan(&f, &cfg).unwrap().num_queues, 1);
    let f = read_features(&base("0")).unwrap();
    assert_eq!(plan(&f, &cfg).unwrap().num_queues, 1);
    // Our max_queues of 0 means 1; huge values are capped.
    let f = read_features(&base("4294967295")).unwrap();
    let p0 = plan(
        &f,
        &FrontendConfig {
            max_queues: 0,
            ..cfg
        },
    )
    .unwrap();
    assert_eq!(p0.num_queues, 1);
    let pbig = plan(
        &f,
        &FrontendConfig {
            max_queues: 1000,
            ..cfg
        },
    )
    .unwrap();
    assert_eq!(pbig.num_queues, MAX_QUEUES_LIMIT);
    // A value longer than the read buffer is garbage.
    let long = "1".repeat(VALUE_BUF_LEN + 1);
    let f = read_features(&base(&long)).unwrap();
    assert_eq!(f.max_queues, 1);
}

#[test]
fn frontend_options_are_honoured() {
    let s = store(&[
        ("feature-rx-copy", "1"),
        ("feature-sg", "1"),
        ("feature-gso-tcpv4", "1"),
        ("feature-split-event-channels", "1"),
        ("feature-ipv6-csum-offload", "1"),
    ]);
    let f = read_features(&s).unwrap();
    let cfg = FrontendConfig {
        max_queues: 4,
        sg: false,
        gso: true,
        ipv6_csum: false,
        split_event_channels: false,
    };
    let p = plan(&f, &cfg).unwrap();
    assert!(!p.split_event_channels);
    assert_eq!(
        p.features,
        NetFeatures {
            sg: false,
            tso: false,
            tso6: false,
            ip_csum: true,
            ipv6_csum: false,
        }
    );
    let w = writes(&p, &[q(0)]);
    assert!(w.contains(&("event-channel".into(), "10".into())));
    assert!(w.contains(&("feature-sg".into(), "0".into())));
    assert!(w.contains(&("feature-ipv6-csum-offload".into(), "0".into())));
    assert!(!w.iter().any(|(k, _)| k == "multi-queue-num-queues"));
}

#[test]
fn queue_descriptions_must_match_plan() {
    let f = read_features(&store(&[
        ("feature-rx-copy", "1"),
        ("multi-queue-max-queues", "8"),
    ]))
    .unwrap();
    let p = plan(&f, &FrontendConfig::default()).unwrap();
    assert_eq!(p.num_queues, 8);
    let e = frontend_writes(&p, &[q(0)]).err().unwrap();
    assert_eq!(
        e,
        NegotiateError::QueueCountMismatch {
            expected: 8,
            got: 1
        }
    );
    assert!(e.to_string().contains("8 queues"));
    let qs: Vec<QueueKeys> = (0..8).map(q).collect();
    let w = writes(&p, &qs);
    assert_eq!(w.len(), 1 + 8 * 3 + 6);
    assert_eq!(
        w[24],
        ("queue-7/event-channel".to_string(), "17".to_string())
    );
    let dbg = format!("{:?}", frontend_writes(&p, &qs).unwrap().next().unwrap());
    assert_eq!(dbg, "multi-queue-num-queues=8");
}

#[test]
fn large_values_fit() {
    let f = read_features(&store(&[
        ("feature-rx-copy", "1"),
        ("multi-queue-max-queues", "64"),
    ]))
    .unwrap();
    let p = plan(
        &f,
        &FrontendConfig {
            max_queues: 64,
            ..Default::default()
        },
    )
    .unwrap();
    let qs: Vec<QueueKeys> = (0..64)
        .map(|_| QueueKeys {
            tx_ring_ref: u32::MAX,
            rx_ring_ref: u32::MAX,
            evtchn_tx: u32::MAX,
            evtchn_rx: u32::MAX,
        })
        .collect();
    let w = writes(&p, &qs);
    assert!(w.contains(&("queue-63/event-channel".into(), "4294967295".into())));
}

#[test]
fn xenbus_states() {
    use XenbusState::*;
    let all = [
        Unknown,
        Initialising,
        InitWait,
        Initialised,
        Connected,
        Closing,
        Closed,
        Reconfiguring,
        Reconfigured,
    ];
    for (i, s) in all.iter().enumerate() {
        assert_eq!(s.as_u32(), i as u32);
        assert_eq!(XenbusState::from_u32(i as u32), Some(*s));
    }
    assert_eq!(XenbusState::from_u32(9), None);
    assert_eq!(XenbusState::from_u32(u32::MAX), None);
}

#[test]
fn reaction_to_backend_state_like_netback_changed() {
    use FrontendAction as A;
    use XenbusState::*;
    let all = [
        Unknown,
        Initialising,
        InitWait,
        Initialised,
        Connected,
        Closing,
        Closed,
        Reconfiguring,
        Reconfigured,
    ];
    for ours in all {
        for (backend, expect) in [
            (Unknown, A::Nothing),
            (Initialising, A::Nothing),
            (Initialised, A::Nothing),
            (Reconfiguring, A::Nothing),
            (Reconfigured, A::Nothing),
            (Connected, A::NotifyPeers),
            (Closing, A::Close),
        ] {
            assert_eq!(
                on_backend_state(ours, backend),
                expect,
                "{ours:?}/{backend:?}"
            );
        }
        let initwait = if ours == Initialising {
            A::Connect
        } else {
            A::Nothing
        };
        assert_eq!(on_backend_state(ours, InitWait), initwait, "{ours:?}");
        let closed = if ours == Closed { A::Nothing } else { A::Close };
        assert_eq!(on_backend_state(ours, Closed), closed, "{ours:?}");
    }
}
