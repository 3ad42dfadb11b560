// DynamoDB Local, listening on 127.0.0.1 only. Its own command line has no bind option
// and listens on every interface; this starts the same server (same arguments) with
// its one Jetty connector bound to loopback before it opens. Run by run.sh as a
// single-file source program (Java 11+), with the jar and its libraries on the
// class path. The jar is never committed: its licence forbids redistribution.
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class OnLoopback {
    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        Connector[] connectors = server.getConnectors();
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local has no connector to bind to loopback");
        }
        for (Connector connector : connectors) {
            // Fails loudly (ClassCastException) rather than listen on every interface.
            ((ServerConnector) connector).setHost("127.0.0.1");
        }
        proxy.start();
        proxy.join();
    }
}
