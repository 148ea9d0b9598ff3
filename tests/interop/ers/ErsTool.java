// Bouncy Castle's RFC 4998 classes (org.bouncycastle.tsp.ers, Debian libbcpkix-java) driven from
// tests/interop/test_ers_bouncycastle.py: verify our records, make records of its own, renew.
// An item argument is one file, or several joined by commas (a data group).
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.SecureRandom;
import java.security.Security;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;

import org.bouncycastle.asn1.nist.NISTObjectIdentifiers;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.operator.DigestCalculator;
import org.bouncycastle.operator.DigestCalculatorProvider;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.tsp.TimeStampRequest;
import org.bouncycastle.tsp.TimeStampRequestGenerator;
import org.bouncycastle.tsp.TimeStampResponse;
import org.bouncycastle.tsp.ers.ERSArchiveTimeStamp;
import org.bouncycastle.tsp.ers.ERSArchiveTimeStampGenerator;
import org.bouncycastle.tsp.ers.ERSByteData;
import org.bouncycastle.tsp.ers.ERSData;
import org.bouncycastle.tsp.ers.ERSDataGroup;
import org.bouncycastle.tsp.ers.ERSEvidenceRecord;
import org.bouncycastle.tsp.ers.ERSEvidenceRecordGenerator;

public class ErsTool {
    static DigestCalculatorProvider dcp;

    public static void main(String[] a) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        dcp = new JcaDigestCalculatorProviderBuilder().setProvider("BC").build();
        switch (a[0]) {
            case "verify": verify(a[1], a[2], a[3]); break;
            case "make": make(a); break;
            case "renew-ts": renewTs(a[1], a[2], a[3]); break;
            case "renew-hash": renewHash(a[1], a[2], a[3], a[4]); break;
            default: throw new IllegalArgumentException(a[0]);
        }
    }

    static ERSData item(String arg) throws Exception {
        String[] paths = arg.split(",");
        if (paths.length == 1) return new ERSByteData(Files.readAllBytes(Paths.get(paths[0])));
        List<ERSData> docs = new ArrayList<>();
        for (String p : paths) docs.add(new ERSByteData(Files.readAllBytes(Paths.get(p))));
        return new ERSDataGroup(docs);
    }

    static void verify(String record, String caPem, String itemArg) throws Exception {
        ERSEvidenceRecord er = new ERSEvidenceRecord(Files.readAllBytes(Paths.get(record)), dcp);
        er.validatePresent(item(itemArg), new Date());
        X509CertificateHolder tsaCert = er.getSigningCertificate();
        X509Certificate ca;
        try (InputStream in = new FileInputStream(caPem)) {
            ca = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        if (!tsaCert.isSignatureValid(new JcaContentVerifierProviderBuilder().setProvider("BC").build(ca.getPublicKey())))
            throw new IllegalStateException("TSA certificate not issued by the CA");
        er.validate(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(tsaCert));
        System.out.println("OK");
    }

    static TimeStampResponse post(String url, TimeStampRequest req) throws Exception {
        HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
        c.setDoOutput(true);
        c.setRequestMethod("POST");
        c.setRequestProperty("Content-Type", "application/timestamp-query");
        try (OutputStream o = c.getOutputStream()) { o.write(req.getEncoded()); }
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (InputStream in = c.getInputStream()) { in.transferTo(b); }
        TimeStampResponse r = new TimeStampResponse(b.toByteArray());
        r.validate(req);
        return r;
    }

    static TimeStampRequestGenerator reqGen() {
        TimeStampRequestGenerator g = new TimeStampRequestGenerator();
        g.setCertReq(true);
        return g;
    }

    static BigInteger nonce() { return new BigInteger(62, new SecureRandom()).add(BigInteger.ONE); }

    // make URL OUTPREFIX ITEM...: one record per item, written OUTPREFIX0.ers, OUTPREFIX1.ers...
    static void make(String[] a) throws Exception {
        DigestCalculator dc = dcp.get(new AlgorithmIdentifier(NISTObjectIdentifiers.id_sha256));
        ERSArchiveTimeStampGenerator gen = new ERSArchiveTimeStampGenerator(dc);
        for (int i = 3; i < a.length; i++) gen.addData(item(a[i]));
        TimeStampRequest req = gen.generateTimeStampRequest(reqGen(), nonce());
        List<ERSArchiveTimeStamp> ats = gen.generateArchiveTimeStamps(post(a[1], req));
        List<ERSEvidenceRecord> recs = new ERSEvidenceRecordGenerator(dcp).generate(ats);
        for (int i = 0; i < recs.size(); i++)
            Files.write(Paths.get(a[2] + i + ".ers"), recs.get(i).getEncoded());
        System.out.println(recs.size());
    }

    static void renewTs(String in, String out, String url) throws Exception {
        ERSEvidenceRecord er = new ERSEvidenceRecord(Files.readAllBytes(Paths.get(in)), dcp);
        TimeStampRequest req = er.generateTimeStampRenewalRequest(reqGen(), nonce());
        Files.write(Paths.get(out), er.renewTimeStamp(post(url, req)).getEncoded());
        System.out.println("OK");
    }

    static void renewHash(String in, String out, String url, String itemArg) throws Exception {
        ERSEvidenceRecord er = new ERSEvidenceRecord(Files.readAllBytes(Paths.get(in)), dcp);
        DigestCalculator dc = dcp.get(new AlgorithmIdentifier(NISTObjectIdentifiers.id_sha512));
        ERSData data = item(itemArg);
        TimeStampRequest req = er.generateHashRenewalRequest(dc, data, reqGen(), nonce());
        Files.write(Paths.get(out), er.renewHash(dc, data, post(url, req)).getEncoded());
        System.out.println("OK");
    }
}
