//! Tests of `apdu`.

use super::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Byte for byte what SP 800-73-4 describes (and what the host sent before the commands
/// were built from names): a change to the builders that changes a byte fails here.
#[test]
fn every_command_is_the_bytes_the_specification_gives() {
    let (pin, new) = (
        pin_block("123456").expect("pin"),
        pin_block("654321").expect("pin"),
    );
    let digest = [0xAB; 32];
    assert_eq!(hex(&select_piv()), "00A4040009A0000003080000100000");
    assert_eq!(hex(&get_data(&OBJECT_CHUID)), "00CB3FFF055C035FC10200");
    assert_eq!(hex(&verify_status()), "00200080");
    assert_eq!(hex(&logout()), "0020FF80");
    assert_eq!(hex(&verify(&pin)), "0020008008313233343536FFFF");
    assert_eq!(
        hex(&change_reference_data(KEY_PUK, &pin, &new)),
        "0024008110313233343536FFFF363534333231FFFF"
    );
    assert_eq!(
        hex(&reset_retry_counter(&pin, &new)),
        "002C008010313233343536FFFF363534333231FFFF"
    );
    assert_eq!(
        hex(&sign_p256(Slot::CardAuthentication, &digest)),
        "0087119E267C2482008120ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB00"
    );
    let chain = sign_rsa2048(Slot::Authentication, &digest);
    assert_eq!(chain.len(), 2);
    assert_eq!(hex(&chain[0]), "1087079AFF7C8201068200818201000001FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF003031300D060960864801650304020105000420ABABABABABABABABABABABABABABABABABABABABAB");
    assert_eq!(hex(&chain[1]), "0087079A0BABABABABABABABABABABAB00");
    assert_eq!(hex(&get_response(0x42)), "00C0000042");
}

#[test]
fn pin_blocks_are_padded_and_refuse_what_cannot_be_a_pin() {
    assert_eq!(
        *pin_block("1234").expect("ok"),
        [b'1', b'2', b'3', b'4', 0xFF, 0xFF, 0xFF, 0xFF]
    );
    assert!(pin_block("").is_err());
    assert!(pin_block("123456789").is_err());
}

#[test]
fn status_words_map_once() {
    assert_eq!(
        check(0x63C2, Checked::Pin),
        Err(CardError::WrongPin {
            retries_left: Some(2)
        })
    );
    assert_eq!(check(0x63C0, Checked::Pin), Err(CardError::PinBlocked));
    assert_eq!(check(0x63C0, Checked::Puk), Err(CardError::PukBlocked));
    assert_eq!(
        check(0x6300, Checked::Pin),
        Err(CardError::WrongPin { retries_left: None })
    );
    assert_eq!(
        check(0x6300, Checked::Puk),
        Err(CardError::WrongPuk { retries_left: None })
    );
    assert_eq!(check(0x6984, Checked::Pin), Err(CardError::PinBlocked));
    for sw in [0x6700, 0x6B00, 0x6A86] {
        assert_eq!(check(sw, Checked::Pin), Err(CardError::CommandRefused(sw)));
    }
    for sw in [0x6A88, 0x6D00, 0x6E00] {
        assert!(matches!(
            check(sw, Checked::Nothing),
            Err(CardError::Unsupported(_))
        ));
    }
    assert_eq!(check(0x6983, Checked::Pin), Err(CardError::PinBlocked));
    assert_eq!(check(0x6983, Checked::Puk), Err(CardError::PukBlocked));
    assert_eq!(
        check(0x6982, Checked::Nothing),
        Err(CardError::SecurityStatusNotSatisfied)
    );
    assert_eq!(
        check(0x6F00, Checked::Nothing),
        Err(CardError::UnexpectedStatus(0x6F00))
    );
}

#[test]
fn the_rsa_sign_command_is_a_chain_carrying_a_pkcs1_block() {
    let chain = sign_rsa2048(Slot::Authentication, &[7; 32]);
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0][0], CLA_CHAINING);
    assert_eq!(chain[1][0], 0x00);
    let data: Vec<u8> = chain
        .iter()
        .flat_map(|apdu| apdu[5..5 + usize::from(apdu[4])].to_vec())
        .collect();
    assert_eq!(data.len(), 4 + 0x106);
    let block = &data[10..];
    assert_eq!(block.len(), 256);
    assert_eq!(&block[..2], &[0x00, 0x01]);
    assert_eq!(&block[256 - 32..], &[7; 32]);
    assert_eq!(&block[256 - 51..256 - 32], &SHA256_DIGEST_INFO);
}

#[test]
fn the_sign_command_has_the_right_lengths() {
    let apdu = sign_p256(Slot::CardAuthentication, &[7; 32]);
    assert_eq!(apdu.len(), 5 + 0x26 + 1);
    assert_eq!(usize::from(apdu[4]), apdu.len() - 6);
}
