//! The floor for `cargo xtask bench`: the work `benches/anchor/CardStatus.java` does (list the
//! readers, connect to the first card, SELECT PIV, read the CHUID), in the fewest steps the
//! `pcsc` crate allows. Nothing the host does can be faster than this.

use std::process::ExitCode;

const SELECT_PIV: &[u8] = &[
    0x00, 0xA4, 0x04, 0x00, 0x09, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00,
];
const GET_CHUID: &[u8] = &[
    0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C, 0x03, 0x5F, 0xC1, 0x02, 0x00,
];

fn main() -> ExitCode {
    match run() {
        Ok(length) => {
            println!("CHUID {length} bytes");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pcsc_floor: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<usize, Box<dyn std::error::Error>> {
    let context = pcsc::Context::establish(pcsc::Scope::User)?;
    for reader in context.list_readers_owned()? {
        let Ok(card) = context.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        else {
            continue;
        };
        let mut buffer = [0u8; pcsc::MAX_BUFFER_SIZE];
        let selected = card.transmit(SELECT_PIV, &mut buffer)?;
        if !selected.ends_with(&[0x90, 0x00]) {
            return Err(format!("SELECT answered {selected:02X?}").into());
        }
        let chuid = card.transmit(GET_CHUID, &mut buffer)?;
        if !chuid.ends_with(&[0x90, 0x00]) {
            return Err(format!("GET DATA answered {chuid:02X?}").into());
        }
        let length = chuid.len() - 2;
        let _ = card.disconnect(pcsc::Disposition::LeaveCard);
        return Ok(length);
    }
    Err("no card".into())
}
