// viem's test client against a devnet: setBalance, setCode, setStorageAt, setNonce,
// impersonateAccount, a transaction from the impersonated account, and reads back.
// Usage: node viem_check.mjs URL MODE (MODE: anvil or hardhat, viem's test-client modes).
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  http,
  parseEther,
} from "viem";

const [url, mode] = process.argv.slice(2);
const chain = defineChain({
  id: 31337,
  name: "sumchain devnet",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [url] } },
});
const transport = http(url);
const test = createTestClient({ chain, mode, transport });
const reader = createPublicClient({ chain, transport });
const wallet = createWalletClient({ chain, transport });

// SSTORE(calldata[0], calldata[32]); return SLOAD(calldata[0])
const storeAndLoad = "0x602035600035556000355460005260206000f3";
const whale = mode === "anvil" ? "0x00000000000000000000000000000000000000a7" : "0x00000000000000000000000000000000000000a8";
const contract = mode === "anvil" ? "0x00000000000000000000000000000000000000c7" : "0x00000000000000000000000000000000000000c8";
const word = (n) => "0x" + n.toString(16).padStart(64, "0");

await test.setBalance({ address: whale, value: parseEther("5") });
await test.setNonce({ address: whale, nonce: 9 });
await test.setCode({ address: contract, bytecode: storeAndLoad });
await test.setStorageAt({ address: contract, index: 1, value: word(11n) });
const before = {
  balance: (await reader.getBalance({ address: whale })).toString(),
  nonce: await reader.getTransactionCount({ address: whale }),
  code: await reader.getCode({ address: contract }),
  slot1: await reader.getStorageAt({ address: contract, slot: word(1n) }),
};
await test.impersonateAccount({ address: whale });
const hash = await wallet.sendTransaction({
  account: whale,
  to: contract,
  data: word(3n) + word(42n).slice(2),
  value: 0n,
});
const receipt = await reader.waitForTransactionReceipt({ hash, pollingInterval: 50 });
await test.stopImpersonatingAccount({ address: whale });
let refused = false;
try {
  await wallet.sendTransaction({ account: whale, to: contract, value: 1n });
} catch {
  refused = true;
}
const tx = await reader.getTransaction({ hash });
console.log(
  JSON.stringify({
    ...before,
    status: receipt.status,
    from: receipt.from,
    txNonce: tx.nonce,
    slot3: await reader.getStorageAt({ address: contract, slot: word(3n) }),
    refusedAfterStop: refused,
  }),
);
