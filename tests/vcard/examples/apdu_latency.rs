//! Measures the APDU round trip through pcscd and vpcd to the virtual card (a VERIFY status
//! query, which changes nothing). Run inside a world:
//!   eval "$(cargo xtask world up)"; cargo run --release -p selfservice-vcard --example apdu_latency
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let context = pcsc::Context::establish(pcsc::Scope::User)?;
    let reader = c"Virtual PCD 00 00";
    let card = context.connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)?;
    let mut buffer = [0u8; 258];
    let select = [
        0x00, 0xA4, 0x04, 0x00, 0x09, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00,
    ];
    card.transmit(&select, &mut buffer)?;
    let mut samples = Vec::with_capacity(1000);
    for i in 0..1020 {
        let started = Instant::now();
        card.transmit(&[0x00, 0x20, 0x00, 0x80], &mut buffer)?;
        if i >= 20 {
            samples.push(started.elapsed().as_micros());
        }
    }
    samples.sort_unstable();
    println!(
        "VERIFY status round trip over {} APDUs: median {} µs, p95 {} µs, max {} µs",
        samples.len(),
        samples[samples.len() / 2],
        samples[samples.len() * 95 / 100],
        samples[samples.len() - 1]
    );
    card.disconnect(pcsc::Disposition::LeaveCard)
        .map_err(|(_, e)| e)?;
    Ok(())
}
