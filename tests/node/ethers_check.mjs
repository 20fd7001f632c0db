// ethers v6 against a sumchain node: send a transaction with a dev key, read its
// receipt, query blocks, deploy and call a contract, decode a revert.
// Usage: node tests/node/ethers_check.mjs <rpc-url> <private-key> <init-code-hex>
// Prints one JSON line with what it saw; exits non-zero on any failure.
import { ethers } from "ethers";

const [url, key, initCode] = process.argv.slice(2);
if (!url || !key || !initCode) {
  console.error("usage: ethers_check.mjs <rpc-url> <private-key> <init-code-hex>");
  process.exit(2);
}

// cacheTimeout -1: ethers reuses identical answers for 250 ms, and an automining node
// moves the nonce faster than that.
const provider = new ethers.JsonRpcProvider(url, undefined, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
const wallet = new ethers.Wallet(key, provider);
const abi = [
  "function add(uint256 amount)",
  "function count() view returns (uint256)",
  "error TooBig(uint256 value)",
  "event Incremented(address indexed by, uint256 count)",
];

const network = await provider.getNetwork();
const recipient = ethers.Wallet.createRandom().address;
const tx = await wallet.sendTransaction({ to: recipient, value: 1234n });
const receipt = await tx.wait();
const block = await provider.getBlock(receipt.blockNumber, true);
const latest = await provider.getBlock("latest");
const balance = await provider.getBalance(recipient);

const factory = new ethers.ContractFactory(abi, initCode, wallet);
const counter = await factory.deploy();
await counter.waitForDeployment();
const addReceipt = await (await counter.add(41n)).wait();
const count = await counter.count();
const event = counter.interface.parseLog(addReceipt.logs[0]);
let revertName = null;
try {
  await counter.add.staticCall(1000n);
} catch (error) {
  revertName = error.revert ? error.revert.name : `unexpected: ${error.shortMessage}`;
}
const feeData = await provider.getFeeData();

console.log(JSON.stringify({
  chainId: network.chainId.toString(),
  txHash: tx.hash,
  status: receipt.status,
  blockNumber: receipt.blockNumber,
  blockHasTx: block.prefetchedTransactions.some((t) => t.hash === tx.hash),
  latestNumber: latest.number,
  balance: balance.toString(),
  count: count.toString(),
  eventCount: event.args.count.toString(),
  revertName,
  maxFeePerGas: feeData.maxFeePerGas === null ? null : feeData.maxFeePerGas.toString(),
}));
provider.destroy();
