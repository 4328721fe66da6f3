/**
 * What the page loads as classic scripts before its modules (put into vendor/
 * by the build): three libraries from node_modules, and the message classes
 * generated from pdu/proto/*.proto. Only what this client uses of them.
 */

/** A generated message class (pbjs static code): plain objects in, message objects out. */
interface ProtobufType {
  encode(message: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
}
/** protobufjs' minimal runtime; vendor/im.js adds the classes under roots.default (IM.Message.IMMsgData, ...). */
declare const protobuf: { roots: { default: unknown } };

/** aes-js: the block cipher in ECB mode (WebCrypto has no ECB, which TeamTalk uses). */
declare const aesjs: {
  ModeOfOperation: {
    ecb: new (key: Uint8Array) => { encrypt(bytes: Uint8Array): Uint8Array; decrypt(bytes: Uint8Array): Uint8Array };
  };
};

/** blueimp-md5: hex MD5 of the UTF-8 bytes of a string (WebCrypto has no MD5). */
declare function md5(value: string): string;
