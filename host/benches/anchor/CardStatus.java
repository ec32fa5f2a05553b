// The work the Java applet's card layer did to show a card's status, on javax.smartcardio:
// list the readers, connect to the card in the first one that has one, SELECT the PIV
// application, read the CHUID. `cargo xtask bench` times it from start to exit against the
// host and against the same work in Rust on the pcsc crate (examples/pcsc_floor.rs).
import javax.smartcardio.Card;
import javax.smartcardio.CardChannel;
import javax.smartcardio.CardTerminal;
import javax.smartcardio.CommandAPDU;
import javax.smartcardio.ResponseAPDU;
import javax.smartcardio.TerminalFactory;

public class CardStatus {
    private static final byte[] SELECT_PIV = {
        0x00, (byte) 0xA4, 0x04, 0x00, 0x09,
        (byte) 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00
    };
    private static final byte[] GET_CHUID = {
        0x00, (byte) 0xCB, 0x3F, (byte) 0xFF, 0x05, 0x5C, 0x03, 0x5F, (byte) 0xC1, 0x02, 0x00
    };

    public static void main(String[] args) throws Exception {
        for (CardTerminal terminal : TerminalFactory.getDefault().terminals().list()) {
            if (!terminal.isCardPresent()) {
                continue;
            }
            Card card = terminal.connect("*");
            CardChannel channel = card.getBasicChannel();
            ResponseAPDU selected = channel.transmit(new CommandAPDU(SELECT_PIV));
            ResponseAPDU chuid = channel.transmit(new CommandAPDU(GET_CHUID));
            card.disconnect(false);
            if (selected.getSW() != 0x9000 || chuid.getSW() != 0x9000) {
                System.err.printf("unexpected status %04X %04X%n", selected.getSW(), chuid.getSW());
                System.exit(2);
            }
            System.out.printf("%s: CHUID %d bytes%n", terminal.getName(), chuid.getData().length);
            return;
        }
        System.err.println("no card");
        System.exit(1);
    }
}
