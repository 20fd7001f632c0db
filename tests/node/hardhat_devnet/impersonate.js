// hardhat_setBalance and hardhat_impersonateAccount through Hardhat's ethers provider on
// the devnet network, then a transfer sent by the impersonated account; prints JSON.
const hre = require("hardhat");

async function main() {
  const { ethers } = hre;
  const whale = "0x00000000000000000000000000000000000000b9";
  const receiver = "0x00000000000000000000000000000000000000ba";
  await ethers.provider.send("hardhat_setBalance", [whale, "0x" + ethers.parseEther("3").toString(16)]);
  await ethers.provider.send("hardhat_impersonateAccount", [whale]);
  const signer = await ethers.getSigner(whale);
  const sent = await signer.sendTransaction({ to: receiver, value: 12345n });
  const receipt = await sent.wait();
  const impersonated = await ethers.getImpersonatedSigner(receiver); // hardhat_impersonateAccount again
  await ethers.provider.send("hardhat_setBalance", [receiver, "0x" + ethers.parseEther("1").toString(16)]);
  const back = await (await impersonated.sendTransaction({ to: whale, value: 5n })).wait();
  await ethers.provider.send("hardhat_stopImpersonatingAccount", [whale]);
  console.log(
    JSON.stringify({
      chainId: (await ethers.provider.getNetwork()).chainId.toString(),
      status: receipt.status,
      from: receipt.from,
      backStatus: back.status,
      backFrom: back.from,
      whaleBalance: (await ethers.provider.getBalance(whale)).toString(),
      receiverBalance: (await ethers.provider.getBalance(receiver)).toString(),
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
